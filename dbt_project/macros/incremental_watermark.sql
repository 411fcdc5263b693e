{#- In an incremental run, only rows loaded after the newest row already in this model.
    Loads are append-only and stamp every row with loaded_at, so this is exactly the new
    data; a full refresh reads everything. -#}
{% macro loaded_after_watermark(column='loaded_at', watermark_column=none) -%}
    {%- if is_incremental() -%}
        where {{ column }} > (select coalesce(max({{ watermark_column or column }}), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
    {%- endif -%}
{%- endmacro %}
