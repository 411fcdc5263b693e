{{ config(materialized='incremental', incremental_strategy='append') }}

-- Every purchase_made call with its order fields, as sent (first copy of each message).
-- Append-only: each run reads only the calls loaded since the last one.
with purchases as (
    {{ new_segment_calls("call_type = 'track' and event_name = 'purchase_made'") }}
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
