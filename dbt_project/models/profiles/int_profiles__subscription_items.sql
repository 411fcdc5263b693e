{{ config(enabled=var('stripe_enabled', false)) }}

-- Every Stripe subscription item with its subscription and its monthly amount (the
-- price's unit amount times the quantity, per month of its billing interval), and why it
-- cannot count when it cannot (reject_reason; marts.source_rejects lists them):
--   subscription_not_landed  its subscription is not in the landed table (yet);
--   unknown_price            no price or plan with its id;
--   negative_amount          a negative unit amount or quantity;
--   unknown_currency         a currency the seed exchange_rates has no rate for;
--   unknown_interval         a billing interval other than day, week, month, year.
with items as (
    select * from {{ ref('stg_stripe__subscription_items') }}
),

subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

prices as (
    select * from {{ ref('stg_stripe__prices') }}
),

exchange_rates as (
    select * from {{ ref('exchange_rates') }}
),

joined as (
    select
        items.subscription_item_id,
        items.subscription_id,
        subscriptions.stripe_customer_id,
        subscriptions.status,
        items.price_id,
        items.quantity,
        prices.unit_amount,
        prices.currency_code,
        prices.billing_interval,
        coalesce(prices.billing_interval_count, 1) as billing_interval_count,
        exchange_rates.usd_per_unit,
        subscriptions.subscription_id is not null as subscription_landed,
        prices.price_id is not null as price_landed,
        -- months per billing interval
        case lower(prices.billing_interval)
            when 'day' then cast(12 as {{ dbt.type_numeric() }}) / 365
            when 'week' then cast(12 as {{ dbt.type_numeric() }}) / 52
            when 'month' then cast(1 as {{ dbt.type_numeric() }})
            when 'year' then cast(12 as {{ dbt.type_numeric() }})
        end as interval_months,
        items.synced_at
    from items
    left join subscriptions on subscriptions.subscription_id = items.subscription_id
    left join prices on prices.price_id = items.price_id
    left join exchange_rates on exchange_rates.currency_code = prices.currency_code
),

final as (
    select
        subscription_item_id,
        subscription_id,
        stripe_customer_id,
        status,
        price_id,
        quantity,
        unit_amount,
        currency_code,
        billing_interval,
        billing_interval_count,
        cast(unit_amount * quantity / (interval_months * billing_interval_count) as {{ dbt.type_numeric() }}) as monthly_amount,
        cast(unit_amount * quantity / (interval_months * billing_interval_count) * usd_per_unit as {{ dbt.type_numeric() }}) as monthly_amount_usd,
        synced_at,
        case
            when not subscription_landed then 'subscription_not_landed'
            when not price_landed then 'unknown_price'
            when unit_amount < 0 or quantity < 0 then 'negative_amount'
            when usd_per_unit is null then 'unknown_currency'
            when interval_months is null then 'unknown_interval'
        end as reject_reason
    from joined
)

select * from final
