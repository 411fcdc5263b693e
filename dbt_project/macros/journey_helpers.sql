{#- Small pieces the generated journey models share. -#}

{#- A duration literal that adds to a timestamp and works in window frames. -#}
{% macro interval_seconds(seconds) -%}
    {{ return(adapter.dispatch('interval_seconds', 'throughline')(seconds)) }}
{%- endmacro %}

{% macro default__interval_seconds(seconds) -%}
    interval '{{ seconds }} seconds'
{%- endmacro %}

{#- A number in [0, buckets) from a text expression, the same on every warehouse:
    the first 7 hex digits of its md5, modulo `buckets`. Used for holdouts and A/B
    variants, so a customer's arm never changes between runs or engines. -#}
{% macro stable_bucket(text_expression, buckets) -%}
    {{ return(adapter.dispatch('stable_bucket', 'throughline')(text_expression, buckets)) }}
{%- endmacro %}

{% macro default__stable_bucket(text_expression, buckets) -%}
    {{ exceptions.raise_compiler_error("throughline: no " ~ target.type ~ " version of stable_bucket(); docs/warehouses.md says what it needs") }}
{%- endmacro %}

{% macro postgres__stable_bucket(text_expression, buckets) -%}
    mod(cast(('x' || substr(md5({{ text_expression }}), 1, 7))::bit(28)::int as bigint), {{ buckets }})
{%- endmacro %}

{% macro duckdb__stable_bucket(text_expression, buckets) -%}
    mod(cast(('0x' || substr(md5({{ text_expression }}), 1, 7)) as bigint), {{ buckets }})
{%- endmacro %}

{#- Milliseconds since 1970 of a UTC timestamp, as text: part of stable instance ids. -#}
{% macro epoch_milliseconds_text(ts) -%}
    cast({{ dbt.datediff("cast('1970-01-01' as timestamp)", ts, 'millisecond') }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro far_future() -%}
    cast('9999-12-31 00:00:00' as timestamp)
{%- endmacro %}
