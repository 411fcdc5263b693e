{#- Reading JSON text columns (properties, traits, context) the same way on every
    warehouse. `path` is dotted: json_text('context', 'device.id'). -#}

{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'throughline')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_value({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '$.{{ path }}')
{%- endmacro %}

{% macro postgres__json_text(column, path) -%}
    ({{ column }})::jsonb #>> '{ {{- path.split('.') | join(',') -}} }'
{%- endmacro %}
