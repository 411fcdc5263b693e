{{ config(materialized='incremental', incremental_strategy='append') }}

-- Every purchase_made call with its order fields, as sent (first copy of each message).
-- Append-only: each run reads only the calls loaded since the last one.
with stored_copies as (
    select * from {{ ref('stg_segment__calls') }}
    {{ loaded_after_watermark() }}
),

purchases as (
    select *
    from (
        select
            stored_copies.*,
            row_number() over (partition by message_id order by loaded_at, source_line) as copy_number
        from stored_copies
        where call_type = 'track' and event_name = 'purchase_made'
    ) as numbered
    where copy_number = 1
    {%- if is_incremental() %}
      and not exists (select 1 from {{ this }} as known where known.message_id = numbered.message_id)
    {%- endif %}
),

final as (
    select
        message_id,
        {{ json_text('properties', 'order_id') }} as order_id,
        user_id,
        anonymous_id,
        occurred_at,
        cast({{ json_text('properties', 'revenue') }} as {{ dbt.type_numeric() }}) as revenue,
        cast({{ json_text('properties', 'discount') }} as {{ dbt.type_numeric() }}) as discount,
        {{ json_text('properties', 'coupon') }} as coupon,
        upper({{ json_text('properties', 'currency') }}) as currency_code,
        loaded_at
    from purchases
)

select * from final
