{{ config(meta={'dagster': {'ref': {'name': 'segment_memberships'}}}) }}
{#- Every model in models/segments/ is listed in var('sql_segments'), so it shows up in
    segment_memberships and segment_changes. Returns the forgotten ones. -#}
{%- set forgotten = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and node.fqn[1] == 'segments' and node.name not in var('sql_segments') -%}
            {%- do forgotten.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}
select model_name
from (
    select cast(null as {{ dbt.type_string() }}) as model_name
    {%- for name in forgotten %}
    union all select '{{ name }}'
    {%- endfor %}
) as segment_models
where model_name is not null
