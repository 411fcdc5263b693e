{#- `as materialized` for a CTE that later CTEs read more than once, so the engine
    computes it once instead of inlining it at every reference. -#}

{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'throughline')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}{%- endmacro %}

{% macro duckdb__materialized_cte() -%}materialized{%- endmacro %}

{% macro postgres__materialized_cte() -%}materialized{%- endmacro %}

{#- `as not materialized` for a CTE read more than once that is cheaper to read again
    than to store: a wide scan the engine would otherwise buffer (and spill) whole. -#}

{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'throughline')()) }}
{%- endmacro %}

{% macro default__inlined_cte() -%}{%- endmacro %}

{% macro duckdb__inlined_cte() -%}not materialized{%- endmacro %}

{% macro postgres__inlined_cte() -%}not materialized{%- endmacro %}
