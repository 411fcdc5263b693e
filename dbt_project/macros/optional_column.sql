{#- `column` of `relation` cast to `type`, or a typed null when the table has no such
    column. For the columns a loader lands only when they are in use (HubSpot lands a
    `property_<name>` column per property that has values); a column every table of the
    layout has is selected directly, so a missing one fails the build naming it. -#}
{% macro optional_column(relation, column, type) -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- for existing in adapter.get_columns_in_relation(relation) -%}
            {%- if existing.name | lower == column | lower -%}{%- do present.append(existing) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if present -%}
        cast({{ adapter.quote(present[0].name) }} as {{ type }})
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}
