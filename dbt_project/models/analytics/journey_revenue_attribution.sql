-- One row per journey and arm: orders and revenue (USD) within
-- var('attribution_window_days') after entry, for treated and holdout alike, so revenue
-- per instance compares the arms. An order counts for every instance whose window holds
-- it (a customer in two journeys counts for both): this is revenue a journey influenced,
-- not a split of total revenue. See message_revenue_attribution for a split.
{%- set now = throughline_now() %}

with instances as (
    select * from {{ ref('journey_instances') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where ordered_at <= {{ now }}
),

attributed as (
    select
        instances.journey,
        instances.arm,
        instances.instance_id,
        orders.order_id,
        orders.revenue_usd
    from instances
    inner join orders
        on orders.customer_id = instances.customer_id
        and orders.ordered_at > instances.entered_at
        and orders.ordered_at <= {{ dbt.dateadd('day', var('attribution_window_days'), 'instances.entered_at') }}
),

per_instance as (
    select
        journey,
        arm,
        instance_id,
        count(*) as orders,
        sum(revenue_usd) as revenue_usd
    from attributed
    group by journey, arm, instance_id
),

final as (
    select
        instances.journey,
        instances.arm,
        {{ var('attribution_window_days') }} as attribution_window_days,
        count(*) as instances,
        count(per_instance.instance_id) as instances_with_orders,
        -- casts: PostgreSQL's sum() of a count or of a numeric is NUMERIC, which prints
        -- with its scale (30.000000); a double and a bigint read the same on every engine.
        cast(coalesce(sum(per_instance.orders), 0) as {{ dbt.type_bigint() }}) as orders,
        cast(coalesce(sum(per_instance.revenue_usd), 0) as {{ type_double() }}) as revenue_usd,
        cast(coalesce(sum(per_instance.revenue_usd), 0) as {{ type_double() }}) / count(*) as revenue_usd_per_instance
    from instances
    left join per_instance on per_instance.instance_id = instances.instance_id
    group by instances.journey, instances.arm
)

select * from final
