{#- `as materialized` for a CTE that later CTEs read more than once, so the engine
    computes it once instead of inlining it at every reference. -#}

{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'throughline')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}{%- endmacro %}

{% macro duckdb__materialized_cte() -%}materialized{%- endmacro %}

{% macro postgres__materialized_cte() -%}materialized{%- endmacro %}
