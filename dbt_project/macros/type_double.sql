{#- A 64-bit float: DuckDB's `float` (dbt.type_float) is 32-bit, too coarse for rates
    and interval limits. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'throughline')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro bigquery__type_double() -%}float64{%- endmacro %}
