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

{#- Parenthesised whole: `#>>` binds no tighter than `||`, so `a || b #>> p` would apply
    the path to the concatenation. -#}
{% macro postgres__json_text(column, path) -%}
    (({{ column }})::jsonb #>> '{ {{- path.split('.') | join(',') -}} }')
{%- endmacro %}

{#- A FROM-clause fragment: `relation` joined to one row per element (`item`, JSON) of
    the array at `key` in its JSON text `column`. -#}
{% macro json_array_items(relation, column, key) -%}
    {{ return(adapter.dispatch('json_array_items', 'throughline')(relation, column, key)) }}
{%- endmacro %}

{% macro postgres__json_array_items(relation, column, key) -%}
    {{ relation }} cross join lateral jsonb_array_elements(({{ relation }}.{{ column }})::jsonb -> '{{ key }}') as items(item)
{%- endmacro %}

{% macro duckdb__json_array_items(relation, column, key) -%}
    {{ relation }}, unnest(from_json(json_extract({{ relation }}.{{ column }}, '$.{{ key }}'), '["json"]')) as items(item)
{%- endmacro %}

{#- JSON text of an object from (key, SQL expression) pairs; null values are kept as null. -#}
{% macro json_object_text(pairs) -%}
    {{ return(adapter.dispatch('json_object_text', 'throughline')(pairs)) }}
{%- endmacro %}

{% macro default__json_object_text(pairs) -%}
    {{ exceptions.raise_compiler_error("throughline: no " ~ target.type ~ " version of json_object_text(); docs/warehouses.md says what it needs") }}
{%- endmacro %}

{% macro postgres__json_object_text(pairs) -%}
    cast(json_build_object({% for key, value in pairs %}'{{ key }}', {{ value }}{% if not loop.last %}, {% endif %}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}

{% macro duckdb__json_object_text(pairs) -%}
    cast(json_object({% for key, value in pairs %}'{{ key }}', {{ value }}{% if not loop.last %}, {% endif %}{% endfor %}) as {{ dbt.type_string() }})
{%- endmacro %}
