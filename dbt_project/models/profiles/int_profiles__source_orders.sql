{{ config(enabled=var('shopify_enabled', false)) }}

-- Every Shopify order with its revenue net of refunds, and why it cannot count when it
-- cannot (reject_reason, null for a good order; marts.source_rejects lists the others):
--   test_order          placed in Shopify's test mode;
--   missing_amount      no total_price;
--   negative_amount     a negative total or refund;
--   unknown_currency    a currency the seed exchange_rates has no rate for;
--   refund_exceeds_order more given back than was paid;
--   no_customer         neither a customer id nor an email: nobody to credit it to.
-- Refunded lines count against their order: subtotal plus tax.
with orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

refunds as (
    select
        order_id,
        sum(coalesce(subtotal, 0) + coalesce(total_tax, 0)) as refunded,
        min(coalesce(subtotal, 0) + coalesce(total_tax, 0)) as smallest_refund
    from {{ ref('stg_shopify__refunds') }}
    where order_id is not null
    group by order_id
),

exchange_rates as (
    select * from {{ ref('exchange_rates') }}
),

amounts as (
    select
        orders.*,
        coalesce(refunds.refunded, 0) as refunded,
        refunds.smallest_refund,
        exchange_rates.usd_per_unit
    from orders
    left join refunds on refunds.order_id = orders.order_id
    left join exchange_rates on exchange_rates.currency_code = orders.currency_code
),

final as (
    select
        order_id,
        'shopify.order:' || order_id as record_key,
        shopify_customer_id,
        email,
        coalesce(processed_at, created_at) as ordered_at,
        currency_code,
        total_price as gross_revenue,
        refunded,
        total_price - refunded as revenue,
        coalesce(total_discounts, 0) as discount,
        cast((total_price - refunded) * usd_per_unit as {{ dbt.type_numeric() }}) as revenue_usd,
        cart_token,
        checkout_token,
        synced_at,
        case
            when coalesce(is_test, false) then 'test_order'
            when total_price is null then 'missing_amount'
            when total_price < 0 or smallest_refund < 0 then 'negative_amount'
            when usd_per_unit is null then 'unknown_currency'
            when refunded > total_price then 'refund_exceeds_order'
            when shopify_customer_id is null and email is null then 'no_customer'
        end as reject_reason
    from amounts
)

select * from final
