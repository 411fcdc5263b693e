{#- Resolution converged: no link joins two identifiers with different components.
    Fails if int_identity__components compiled too few passes for the graph. -#}
{% test components_converged(model, links) %}
    select links.identifier_a, links.identifier_b
    from {{ links }} as links
    inner join {{ model }} as end_a on end_a.identifier = links.identifier_a
    inner join {{ model }} as end_b on end_b.identifier = links.identifier_b
    where end_a.component_id <> end_b.component_id
{% endtest %}
