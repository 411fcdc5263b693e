{#- A model's schema is its folder's `schema` config as written (staging, marts, ...),
    not dbt's default "<target schema>_<custom schema>", so analysts query stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
