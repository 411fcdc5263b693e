{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe subscription with its customer, when it started, was cancelled and
-- ended, and its MRR: the monthly amounts of its items (int_profiles__subscription_items,
-- rejected items left out) while it is active or past due, 0 otherwise.
with subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

items as (
    select * from {{ ref('int_profiles__subscription_items') }}
    where reject_reason is null
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

item_totals as (
    select
        subscription_id,
        min(currency_code) as currency_code,
        sum(monthly_amount) as monthly_amount,
        sum(monthly_amount_usd) as monthly_amount_usd,
        sum(quantity) as quantity
    from items
    group by subscription_id
),

final as (
    select
        subscriptions.subscription_id,
        customer_map.customer_id,
        subscriptions.stripe_customer_id,
        subscriptions.status,
        subscriptions.started_at,
        subscriptions.canceled_at,
        subscriptions.ended_at,
        item_totals.currency_code,
        subscriptions.status in ('active', 'past_due') as is_active,
        case when subscriptions.status in ('active', 'past_due') then coalesce(item_totals.monthly_amount, 0) else 0 end as mrr,
        case when subscriptions.status in ('active', 'past_due') then coalesce(item_totals.monthly_amount_usd, 0) else 0 end as mrr_usd
    from subscriptions
    left join item_totals on item_totals.subscription_id = subscriptions.subscription_id
    left join customer_map
        on customer_map.identifier_type = 'platform_customer_id'
        and customer_map.identifier_value = 'stripe:' || subscriptions.stripe_customer_id
)

select * from final
