{#- Whether the loader landed `relation` (a source()): Stripe connections land either
    `subscription` (made before February 2022) or `subscription_history` (history mode,
    after), and the staging models read whichever is there. False while parsing. -#}
{% macro landed(relation) -%}
    {{ return(execute and load_relation(relation) is not none) }}
{%- endmacro %}
