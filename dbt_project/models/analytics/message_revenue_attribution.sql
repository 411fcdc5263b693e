-- One row per order attributed to a message: the latest message the ledger says was
-- sent to the customer (any journey, any channel) within
-- var('message_attribution_window_days') before the order (last touch). Each order
-- counts once at most, so sums over messages, steps or channels never double count.
{%- set now = throughline_now() %}

with orders as (
    select * from {{ ref('fct_orders') }}
    where ordered_at <= {{ now }}
),

sent as (
    select * from {{ ref('int_analytics__journey_actions') }}
    where is_sent = 1 and sent_at is not null
),

touches as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.revenue_usd,
        sent.action_id,
        sent.journey,
        sent.step_id,
        sent.channel,
        sent.variant,
        sent.sent_at,
        row_number() over (partition by orders.order_id order by sent.sent_at desc, sent.action_id) as touch_rank
    from orders
    inner join sent
        on sent.customer_id = orders.customer_id
        and sent.sent_at < orders.ordered_at
        and sent.sent_at >= {{ dbt.dateadd('day', -1 * var('message_attribution_window_days'), 'orders.ordered_at') }}
),

final as (
    select
        order_id,
        customer_id,
        ordered_at,
        revenue_usd,
        action_id,
        journey,
        step_id,
        channel,
        variant,
        sent_at,
        {{ var('message_attribution_window_days') }} as attribution_window_days
    from touches
    where touch_rank = 1
)

select * from final
