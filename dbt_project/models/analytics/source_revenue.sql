{{ config(enabled=(var('shopify_enabled', false) or var('stripe_enabled', false))) }}

-- Revenue from the landed sources (docs/sources.md) up to now, one row per source: the
-- Shopify orders counted in fct_orders (orders, revenue net of refunds, average order
-- value), the Stripe payments of fct_payments (net of refunds) and the MRR of the
-- subscriptions active now (fct_subscriptions). All in USD. A journey's share of it is in
-- journey_revenue_attribution, which reads fct_orders.
{%- set now = throughline_now() %}
{% set rows = [] %}
{% if var('shopify_enabled', false) %}
{% do rows.append("
    select
        'shopify' as source,
        count(*) as orders,
        sum(revenue_usd) as revenue_usd,
        cast(sum(revenue_usd) / nullif(count(*), 0) as " ~ dbt.type_numeric() ~ ") as average_order_value_usd,
        cast(null as " ~ dbt.type_numeric() ~ ") as mrr_usd,
        cast(null as " ~ dbt.type_bigint() ~ ") as active_subscriptions
    from " ~ ref('fct_orders') ~ "
    where message_id in (select record_key from " ~ ref('int_profiles__source_orders') ~ ")
      and ordered_at <= " ~ now) %}
{% endif %}
{% if var('stripe_enabled', false) %}
{% do rows.append("
    select
        'stripe' as source,
        cast(null as " ~ dbt.type_bigint() ~ ") as orders,
        (select sum(revenue_usd) from " ~ ref('fct_payments') ~ " where charged_at <= " ~ now ~ ") as revenue_usd,
        cast(null as " ~ dbt.type_numeric() ~ ") as average_order_value_usd,
        sum(mrr_usd) as mrr_usd,
        count(*) as active_subscriptions
    from " ~ ref('fct_subscriptions') ~ "
    where is_active and started_at <= " ~ now) %}
{% endif %}

with sources as (
    {{ rows | join('\n    union all\n    ') }}
),

final as (
    select
        source,
        cast(orders as {{ dbt.type_bigint() }}) as orders,
        cast(coalesce(revenue_usd, 0) as {{ dbt.type_numeric() }}) as revenue_usd,
        average_order_value_usd,
        cast(mrr_usd as {{ dbt.type_numeric() }}) as mrr_usd,
        cast(active_subscriptions as {{ dbt.type_bigint() }}) as active_subscriptions
    from sources
)

select * from final
