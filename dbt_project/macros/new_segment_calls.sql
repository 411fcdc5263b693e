{#- For an append-only incremental model: the Segment calls loaded since its watermark
    that match `condition`, one row per message_id (the first stored copy), leaving out
    any message the model already holds. A full refresh reads every call. -#}
{% macro new_segment_calls(condition='1 = 1') %}
    select *
    from (
        select
            stored_copies.*,
            row_number() over (partition by message_id order by loaded_at, source_line) as copy_number
        from (
            select * from {{ ref('stg_segment__calls') }}
            {{ loaded_after_watermark() }}
        ) as stored_copies
        where {{ condition }}
    ) as numbered
    where copy_number = 1
    {%- if is_incremental() %}
      -- Known messages among the new ones, found by probing this model with the new ids
      -- (a small set) rather than hashing every id the model holds.
      and message_id not in (
          select known.message_id
          from {{ this }} as known
          where known.message_id in (select message_id from {{ ref('stg_segment__calls') }} {{ loaded_after_watermark() }})
      )
    {%- endif %}
{% endmacro %}
