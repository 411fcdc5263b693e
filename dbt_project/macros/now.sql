{#- "Now" for decision models: the `now` var (UTC) if set, else the current time in UTC.
    Every model that decides anything reads time from here, so a decision can be
    recomputed for any past instant. -#}
{% macro throughline_now() -%}
    {%- if var('now', none) -%}
        cast('{{ var("now") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        {{ return(adapter.dispatch('current_utc_timestamp', 'throughline')()) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__current_utc_timestamp() -%}
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__current_utc_timestamp() -%}
    cast(timezone('UTC', current_timestamp) as timestamp)
{%- endmacro %}

{% macro postgres__current_utc_timestamp() -%}
    (now() at time zone 'utc')
{%- endmacro %}
