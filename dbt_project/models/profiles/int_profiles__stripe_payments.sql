{{ config(enabled=var('stripe_enabled', false)) }}

-- Every Stripe charge with what was refunded of it (its succeeded refunds) and its revenue
-- net of them: the amount of a succeeded charge, 0 for a failed or pending one. When it
-- cannot count, why (reject_reason; marts.source_rejects lists them):
--   negative_amount   a negative amount or refund;
--   unknown_currency  a currency the seed exchange_rates has no rate for;
--   refund_exceeds_charge  more refunded than was charged.
with charges as (
    select * from {{ ref('stg_stripe__charges') }}
),

refunds as (
    select
        charge_id,
        sum(amount) as refunded,
        min(amount) as smallest_refund
    from {{ ref('stg_stripe__refunds') }}
    where status = 'succeeded'
    group by charge_id
),

exchange_rates as (
    select * from {{ ref('exchange_rates') }}
),

amounts as (
    select
        charges.*,
        coalesce(refunds.refunded, 0) as refunded,
        refunds.smallest_refund,
        exchange_rates.usd_per_unit,
        case when charges.status = 'succeeded' then charges.amount - coalesce(refunds.refunded, 0) else 0 end as revenue
    from charges
    left join refunds on refunds.charge_id = charges.charge_id
    left join exchange_rates on exchange_rates.currency_code = charges.currency_code
),

final as (
    select
        charge_id,
        stripe_customer_id,
        receipt_email,
        invoice_id,
        status,
        created_at as charged_at,
        currency_code,
        amount,
        refunded,
        revenue,
        cast(revenue * usd_per_unit as {{ dbt.type_numeric() }}) as revenue_usd,
        synced_at,
        case
            when amount < 0 or smallest_refund < 0 then 'negative_amount'
            when usd_per_unit is null then 'unknown_currency'
            when refunded > amount then 'refund_exceeds_charge'
        end as reject_reason
    from amounts
)

select * from final
