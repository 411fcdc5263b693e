-- One row per order (purchase_made, first call per order_id), with its customer and its
-- revenue in the order's currency and in USD (seed exchange_rates). With Shopify on
-- (docs/sources.md), its orders too, revenue net of refunds; a Shopify order that a
-- purchase_made also reports is counted once, as Shopify has it.
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
    {%- if var('shopify_enabled', false) %}
      and order_id not in (select order_id from {{ ref('int_profiles__source_orders') }})
    {%- endif %}
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
    {%- if var('shopify_enabled', false) %}

    union all

    select
        shopify_orders.order_id,
        coalesce(by_platform_id.customer_id, by_email.customer_id) as customer_id,
        shopify_orders.ordered_at,
        shopify_orders.currency_code,
        shopify_orders.revenue,
        shopify_orders.discount,
        cast(null as {{ dbt.type_string() }}) as coupon,
        shopify_orders.revenue_usd,
        shopify_orders.record_key as message_id
    from {{ ref('int_profiles__source_orders') }} as shopify_orders
    left join customer_map as by_platform_id
        on by_platform_id.identifier_type = 'platform_customer_id'
        and by_platform_id.identifier_value = 'shopify:' || shopify_orders.shopify_customer_id
    left join customer_map as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = shopify_orders.email
    where shopify_orders.reject_reason is null
    {%- endif %}
)

select * from final
