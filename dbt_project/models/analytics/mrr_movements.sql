{{ config(enabled=var('stripe_enabled', false)) }}

-- Stripe MRR movements per month up to now (marts.fct_mrr_movements), in USD: the MRR
-- new subscriptions brought, expansions added, contractions and churn took away,
-- reactivations won back, and the net of them.
with movements as (
    select * from {{ ref('fct_mrr_movements') }}
    where moved_at <= {{ throughline_now() }}
),

final as (
    select
        cast({{ dbt.date_trunc('month', 'moved_at') }} as date) as movement_month,
        cast(sum(case when movement_type = 'new' then mrr_change_usd else 0 end) as {{ dbt.type_numeric() }}) as new_mrr_usd,
        cast(sum(case when movement_type = 'expansion' then mrr_change_usd else 0 end) as {{ dbt.type_numeric() }}) as expansion_mrr_usd,
        cast(sum(case when movement_type = 'contraction' then -mrr_change_usd else 0 end) as {{ dbt.type_numeric() }}) as contraction_mrr_usd,
        cast(sum(case when movement_type = 'churn' then -mrr_change_usd else 0 end) as {{ dbt.type_numeric() }}) as churned_mrr_usd,
        cast(sum(case when movement_type = 'reactivation' then mrr_change_usd else 0 end) as {{ dbt.type_numeric() }}) as reactivation_mrr_usd,
        cast(sum(mrr_change_usd) as {{ dbt.type_numeric() }}) as net_new_mrr_usd,
        count(*) as movements
    from movements
    group by 1
)

select * from final
