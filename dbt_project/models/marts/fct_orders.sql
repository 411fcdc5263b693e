-- One row per order (purchase_made, first call per order_id), with its customer and its
-- revenue in the order's currency and in USD (seed exchange_rates).
with orders as (
    select * from {{ ref('int_profiles__orders') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

exchange_rates as (
    select * from {{ ref('exchange_rates') }}
),

first_call_per_order as (
    select *
    from (
        select
            orders.*,
            row_number() over (partition by order_id order by occurred_at, message_id) as call_number
        from orders
        where order_id is not null
    ) as numbered
    where call_number = 1
),

final as (
    select
        first_call_per_order.order_id,
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        first_call_per_order.occurred_at as ordered_at,
        first_call_per_order.currency_code,
        first_call_per_order.revenue,
        coalesce(first_call_per_order.discount, 0) as discount,
        first_call_per_order.coupon,
        cast(first_call_per_order.revenue * exchange_rates.usd_per_unit as {{ dbt.type_numeric() }}) as revenue_usd,
        first_call_per_order.message_id
    from first_call_per_order
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = first_call_per_order.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = first_call_per_order.anonymous_id
    left join exchange_rates on exchange_rates.currency_code = first_call_per_order.currency_code
)

select * from final
