{#- The loader-landed sources switched on by their dbt vars (docs/sources.md), in a fixed
    order. Models that combine sources branch on it, so with every source off they
    compile to exactly what they were without them. -#}
{% macro loaded_sources() %}
    {% set enabled = [] %}
    {% for name in ['shopify', 'stripe', 'hubspot'] %}
        {% if var(name ~ '_enabled', false) %}{% do enabled.append(name) %}{% endif %}
    {% endfor %}
    {{ return(enabled) }}
{% endmacro %}

