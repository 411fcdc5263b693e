{{ config(enabled=var('stripe_enabled', false)) }}

-- Every version of a Stripe subscription (stg_stripe__subscription_history) with its MRR
-- then and the movement it made, in the standard SaaS MRR-movement categories:
--   new           the first version with MRR;
--   expansion     more MRR than the version before (an upgrade: more seats);
--   contraction   less MRR, but some (a downgrade);
--   churn         MRR down to 0 (cancelled, unpaid, ...);
--   reactivation  MRR again after a churn;
-- a version that changed nothing of the MRR has no movement.
--
-- Stripe keeps only its items' current prices and quantities; the history keeps the
-- subscription's quantity per version. So a version's MRR is its items' monthly amount
-- now (int_profiles__subscription_items) scaled by its quantity over the current
-- version's, while it is active or past due (as fct_subscriptions counts), else 0.
-- A version that cannot count has a reject_reason (marts.source_rejects):
--   subscription_not_landed  its subscription is not in the landed table;
--   negative_amount          a negative quantity;
--   no_priced_items          its subscription has no item that counts (int_profiles__subscription_items).
with versions as (
    select * from {{ ref('stg_stripe__subscription_history') }}
),

subscriptions as (
    select * from {{ ref('stg_stripe__subscriptions') }}
),

item_totals as (
    select
        subscription_id,
        min(currency_code) as currency_code,
        sum(monthly_amount) as monthly_amount,
        sum(monthly_amount_usd) as monthly_amount_usd
    from {{ ref('int_profiles__subscription_items') }}
    where reject_reason is null
    group by subscription_id
),

judged as (
    select
        versions.*,
        coalesce(versions.version_started_at, versions.synced_at) as version_at,
        case
            when subscriptions.subscription_id is null then 'subscription_not_landed'
            when versions.quantity < 0 then 'negative_amount'
            when item_totals.subscription_id is null then 'no_priced_items'
        end as reject_reason
    from versions
    left join subscriptions on subscriptions.subscription_id = versions.subscription_id
    left join item_totals on item_totals.subscription_id = versions.subscription_id
),

current_quantities as (
    -- the quantity the items' amounts are at now: the current version's, else the latest's
    select subscription_id, quantity
    from (
        select
            subscription_id,
            quantity,
            row_number() over (
                partition by subscription_id
                order by case when is_current_version then 0 else 1 end, version_at desc, synced_at desc
            ) as recency
        from judged
        where reject_reason is null
    ) as ranked
    where recency = 1
),

priced as (
    select
        judged.*,
        item_totals.currency_code,
        judged.status in ('active', 'past_due') as is_paying,
        -- scaled as amount x quantity / current quantity (exact in decimals), 1:1 without quantities
        coalesce(judged.quantity, 1) as scaled_quantity,
        coalesce(case when judged.quantity is not null then nullif(current_quantities.quantity, 0) end, coalesce(judged.quantity, 1)) as current_quantity,
        item_totals.monthly_amount,
        item_totals.monthly_amount_usd
    from judged
    inner join item_totals on item_totals.subscription_id = judged.subscription_id
    left join current_quantities on current_quantities.subscription_id = judged.subscription_id
    where judged.reject_reason is null
),

ordered as (
    select
        subscription_id,
        stripe_customer_id,
        status,
        quantity,
        started_at,
        version_at,
        synced_at,
        currency_code,
        cast(case when is_paying then monthly_amount * scaled_quantity / current_quantity else 0 end as {{ dbt.type_numeric() }}) as mrr,
        cast(case when is_paying then monthly_amount_usd * scaled_quantity / current_quantity else 0 end as {{ dbt.type_numeric() }}) as mrr_usd,
        row_number() over (partition by subscription_id order by version_at, synced_at) as version_number
    from priced
),

compared as (
    select
        ordered.*,
        coalesce(lag(mrr) over (partition by subscription_id order by version_number), 0) as previous_mrr,
        coalesce(lag(mrr_usd) over (partition by subscription_id order by version_number), 0) as previous_mrr_usd,
        coalesce(max(mrr) over (
            partition by subscription_id order by version_number
            rows between unbounded preceding and 1 preceding
        ), 0) as highest_earlier_mrr
    from ordered
),

counted as (
    select
        subscription_id,
        stripe_customer_id,
        status,
        quantity,
        version_number,
        -- the first version moves when the subscription started; a later one when it was recorded
        case when version_number = 1 then coalesce(started_at, version_at) else version_at end as moved_at,
        currency_code,
        previous_mrr,
        mrr,
        previous_mrr_usd,
        mrr_usd,
        case
            when previous_mrr = 0 and mrr > 0 and highest_earlier_mrr = 0 then 'new'
            when previous_mrr = 0 and mrr > 0 then 'reactivation'
            when previous_mrr > 0 and mrr = 0 then 'churn'
            when previous_mrr > 0 and mrr > previous_mrr then 'expansion'
            when previous_mrr > 0 and mrr < previous_mrr then 'contraction'
        end as movement_type,
        synced_at,
        cast(null as {{ dbt.type_string() }}) as reject_reason
    from compared
),

rejected as (
    select
        subscription_id,
        stripe_customer_id,
        status,
        quantity,
        cast(null as {{ dbt.type_bigint() }}) as version_number,
        version_at as moved_at,
        cast(null as {{ dbt.type_string() }}) as currency_code,
        cast(null as {{ dbt.type_numeric() }}) as previous_mrr,
        cast(null as {{ dbt.type_numeric() }}) as mrr,
        cast(null as {{ dbt.type_numeric() }}) as previous_mrr_usd,
        cast(null as {{ dbt.type_numeric() }}) as mrr_usd,
        cast(null as {{ dbt.type_string() }}) as movement_type,
        synced_at,
        reject_reason
    from judged
    where reject_reason is not null
),

final as (
    select * from counted
    union all
    select * from rejected
)

select * from final
