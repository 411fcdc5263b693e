{{ config(enabled=var('shopify_enabled', false)) }}

-- One row per refunded order line, with the order it belongs to (through its refund) and
-- the money given back: the line's subtotal plus its tax.
with refunds as (
    select * from {{ source('shopify', 'refund') }}
),

refunded_lines as (
    select * from {{ source('shopify', 'order_line_refund') }}
),

final as (
    select
        cast(refunded_lines.id as {{ dbt.type_string() }}) as order_line_refund_id,
        cast(refunded_lines.refund_id as {{ dbt.type_string() }}) as refund_id,
        cast(refunds.order_id as {{ dbt.type_string() }}) as order_id,
        cast(refunded_lines.order_line_id as {{ dbt.type_string() }}) as order_line_id,
        cast(refunded_lines.quantity as {{ dbt.type_int() }}) as quantity,
        cast(refunded_lines.subtotal as {{ dbt.type_numeric() }}) as subtotal,
        cast(refunded_lines.total_tax as {{ dbt.type_numeric() }}) as total_tax,
        cast(refunds.created_at as {{ dbt.type_timestamp() }}) as refunded_at,
        cast(refunded_lines._fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from refunded_lines
    -- a refunded line whose refund has not landed yet still counts (left join): its order
    -- is unknown until it does, so it is not netted from any order
    left join refunds on cast(refunds.id as {{ dbt.type_string() }}) = cast(refunded_lines.refund_id as {{ dbt.type_string() }})
)

select * from final
