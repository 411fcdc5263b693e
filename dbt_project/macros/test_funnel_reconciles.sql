{#- A journey funnel loses nobody: every instance that entered has converted, exited
    (an exit event, a timeout, leaving a segment, or finishing its steps without
    converting) or is still active. Fails on any journey where that does not add up. -#}
{% test funnel_reconciles(model) %}
    select * from {{ model }}
    where entered != converted + exited + active
{% endtest %}
