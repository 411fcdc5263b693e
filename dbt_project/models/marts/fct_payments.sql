{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per counted Stripe charge (int_profiles__stripe_payments, rejected ones left
-- out) with its customer (by Stripe customer id, else receipt email) and its revenue net
-- of refunds, in its currency and in USD: a SaaS's revenue beside fct_orders' shop orders.
with payments as (
    select * from {{ ref('int_profiles__stripe_payments') }}
    where reject_reason is null
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        payments.charge_id,
        coalesce(by_platform_id.customer_id, by_email.customer_id) as customer_id,
        payments.invoice_id,
        payments.status,
        payments.charged_at,
        payments.currency_code,
        payments.amount,
        payments.refunded,
        payments.revenue,
        payments.revenue_usd
    from payments
    left join customer_map as by_platform_id
        on by_platform_id.identifier_type = 'platform_customer_id'
        and by_platform_id.identifier_value = 'stripe:' || payments.stripe_customer_id
    left join customer_map as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = payments.receipt_email
)

select * from final
