{#- Converting between UTC and a customer's local wall-clock time, DST included.
    Timestamps in the warehouse are UTC without a time zone. -#}

{% macro utc_to_local(ts, tz) -%}
    {{ return(adapter.dispatch('utc_to_local', 'throughline')(ts, tz)) }}
{%- endmacro %}

{% macro default__utc_to_local(ts, tz) -%}
    (({{ ts }}) at time zone 'UTC' at time zone ({{ tz }}))
{%- endmacro %}

{% macro duckdb__utc_to_local(ts, tz) -%}
    cast(timezone({{ tz }}, timezone('UTC', {{ ts }})) as timestamp)
{%- endmacro %}

{% macro local_to_utc(ts, tz) -%}
    {{ return(adapter.dispatch('local_to_utc', 'throughline')(ts, tz)) }}
{%- endmacro %}

{% macro default__local_to_utc(ts, tz) -%}
    (({{ ts }}) at time zone ({{ tz }}) at time zone 'UTC')
{%- endmacro %}

{% macro duckdb__local_to_utc(ts, tz) -%}
    cast(timezone('UTC', timezone({{ tz }}, {{ ts }})) as timestamp)
{%- endmacro %}

{#- The first instant at or after `ts` (UTC) that is outside the quiet hours
    [start, end) of the customer's local day, e.g. start '21:00', end '08:00'. A message
    due in quiet hours is deferred to the end of them, never dropped. -#}
{% macro quiet_hours_release(ts, tz, start, end) -%}
    {%- set local = utc_to_local(ts, tz) -%}
    {%- set local_day = "cast(cast(" ~ local ~ " as date) as timestamp)" -%}
    {%- set minute_of_day = "(" ~ dbt.datediff(local_day, local, 'minute') ~ ")" -%}
    {%- set start_minute = (start.split(':')[0] | int) * 60 + (start.split(':')[1] | int) -%}
    {%- set end_minute = (end.split(':')[0] | int) * 60 + (end.split(':')[1] | int) -%}
    {%- if start_minute > end_minute %}
    case
        when {{ minute_of_day }} >= {{ start_minute }}
            then {{ local_to_utc(dbt.dateadd('minute', 1440 + end_minute, local_day), tz) }}
        when {{ minute_of_day }} < {{ end_minute }}
            then {{ local_to_utc(dbt.dateadd('minute', end_minute, local_day), tz) }}
        else {{ ts }}
    end
    {%- else %}
    case
        when {{ minute_of_day }} >= {{ start_minute }} and {{ minute_of_day }} < {{ end_minute }}
            then {{ local_to_utc(dbt.dateadd('minute', end_minute, local_day), tz) }}
        else {{ ts }}
    end
    {%- endif %}
{%- endmacro %}

{#- The IANA time zone names the warehouse knows, as a relation with a `name` column. A
    customer's reported zone outside it (a typo, a device bug) falls back to the policy's
    default instead of failing the build. -#}
{% macro known_time_zones() -%}
    {{ return(adapter.dispatch('known_time_zones', 'throughline')()) }}
{%- endmacro %}

{% macro default__known_time_zones() -%}
    {{ exceptions.raise_compiler_error("throughline: no " ~ target.type ~ " version of known_time_zones(); docs/warehouses.md says what it needs") }}
{%- endmacro %}

{% macro postgres__known_time_zones() -%}
    (select name from pg_timezone_names)
{%- endmacro %}

{% macro duckdb__known_time_zones() -%}
    (select name from pg_timezone_names())
{%- endmacro %}
