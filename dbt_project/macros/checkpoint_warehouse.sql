{% macro checkpoint_warehouse() %}
    {#- DuckDB: write the run's changes into the database file once, at the end of a run
        (profiles.yml raises the threshold that would otherwise checkpoint inside
        whichever commit crosses it, rewriting the same tables several times a run). -#}
    {%- if target.type == 'duckdb' -%} checkpoint {%- endif -%}
{% endmacro %}
