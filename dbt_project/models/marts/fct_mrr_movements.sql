{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per MRR movement of a Stripe subscription (int_profiles__subscription_versions):
-- new, expansion, contraction, churn or reactivation, when it moved, the MRR before and
-- after (in its currency and USD) and the customer.
with movements as (
    select * from {{ ref('int_profiles__subscription_versions') }}
    where movement_type is not null
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        movements.subscription_id,
        movements.version_number,
        customer_map.customer_id,
        movements.stripe_customer_id,
        movements.movement_type,
        movements.moved_at,
        movements.currency_code,
        movements.previous_mrr,
        movements.mrr,
        movements.mrr - movements.previous_mrr as mrr_change,
        movements.previous_mrr_usd,
        movements.mrr_usd,
        movements.mrr_usd - movements.previous_mrr_usd as mrr_change_usd
    from movements
    left join customer_map
        on customer_map.identifier_type = 'platform_customer_id'
        and customer_map.identifier_value = 'stripe:' || movements.stripe_customer_id
)

select * from final
