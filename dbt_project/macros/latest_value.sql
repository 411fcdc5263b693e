{#- The value of `value` on the latest row of the group (by `order_by`, a list of
    columns, latest first), ignoring rows where it is null: "latest value wins" per
    trait in one aggregation. -#}
{% macro latest_value(value, order_by) -%}
    {{ return(adapter.dispatch('latest_value', 'throughline')(value, order_by)) }}
{%- endmacro %}

{% macro default__latest_value(value, order_by) -%}
    {{ exceptions.raise_compiler_error("throughline: no " ~ target.type ~ " version of latest_value(); docs/warehouses.md says what it needs") }}
{%- endmacro %}

{% macro postgres__latest_value(value, order_by) -%}
    (array_agg({{ value }} order by {% for column in order_by %}{{ column }} desc{{ ', ' if not loop.last }}{% endfor %}) filter (where {{ value }} is not null))[1]
{%- endmacro %}

{% macro duckdb__latest_value(value, order_by) -%}
    arg_max({{ value }}, {% if order_by | length == 1 %}{{ order_by[0] }}{% else %}({{ order_by | join(', ') }}){% endif %}) filter (where {{ value }} is not null)
{%- endmacro %}
