{#- "Now" for decision models, in UTC: the `now` var if set, else the THROUGHLINE_NOW
    environment variable if set, else the current time. Every model that decides anything
    reads time from here, so a decision can be recomputed for any past instant.

    Why an environment variable as well: dbt re-parses the whole project whenever `--vars`
    differ from the last run, so a tick that pins a different `now` each time (a backtest,
    the benchmark) would pay a full parse. The variable is read only while executing
    (`execute`), never while parsing, so dbt neither records it nor re-parses when it
    changes. -#}
{% macro throughline_now() -%}
    {%- set pinned = var('now', none) -%}
    {%- if not pinned and execute -%}
        {%- set pinned = env_var('THROUGHLINE_NOW', '') -%}
    {%- endif -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as {{ dbt.type_timestamp() }})
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
    (current_timestamp at time zone 'utc')
{%- endmacro %}
