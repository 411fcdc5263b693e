{#- In an incremental run, only rows loaded after the newest row already in this model.
    Loads are append-only and stamp every row with loaded_at, so this is exactly the new
    data; a full refresh reads everything. -#}
{% macro loaded_after_watermark(column='loaded_at', watermark_column=none) -%}
    {%- if is_incremental() -%}
        where {{ column }} > {{ incremental_watermark(watermark_column or column) }}
    {%- endif -%}
{%- endmacro %}

{#- The newest value of `column` in this model, as a timestamp literal (1900-01-01 when
    empty). Read with a query before the model runs rather than left as a subquery: a
    constant lets the engine skip the storage blocks of rows loaded earlier (they are
    appended in load order), where a subquery makes it read every row of the table. -#}
{% macro incremental_watermark(column='loaded_at') -%}
    {%- set watermark = '1900-01-01 00:00:00' -%}
    {%- if execute -%}
        {%- set result = run_query('select max(' ~ column ~ ') from ' ~ this) -%}
        {%- if result.rows and result.rows[0][0] is not none -%}
            {%- set watermark = result.rows[0][0] -%}
        {%- endif -%}
    {%- endif -%}
    cast('{{ watermark }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
