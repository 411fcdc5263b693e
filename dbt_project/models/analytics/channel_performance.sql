-- One row per channel: journey messages and what became of them, with rates over what
-- was sent, and the revenue of orders whose last touch was on the channel.
with actions as (
    select * from {{ ref('int_analytics__journey_actions') }}
    where channel is not null
),

attributed as (
    -- cast: sum() of a numeric prints with its scale on PostgreSQL; a double the same everywhere
    select channel, count(*) as attributed_orders, cast(sum(revenue_usd) as {{ type_double() }}) as attributed_revenue_usd
    from {{ ref('message_revenue_attribution') }}
    group by channel
),

counts as (
    select
        channel,
        count(*) as actions,
        sum(is_suppressed) as suppressed,
        sum(is_sent) as sent,
        sum(is_delivered) as delivered,
        sum(is_opened) as opened,
        sum(is_clicked) as clicked,
        sum(is_bounced) as bounced
    from actions
    group by channel
),

final as (
    select
        counts.*,
        cast(delivered as {{ type_double() }}) / nullif(sent, 0) as delivery_rate,
        cast(opened as {{ type_double() }}) / nullif(delivered, 0) as open_rate,
        cast(clicked as {{ type_double() }}) / nullif(delivered, 0) as click_rate,
        cast(bounced as {{ type_double() }}) / nullif(sent, 0) as bounce_rate,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        coalesce(attributed.attributed_revenue_usd, 0) as attributed_revenue_usd
    from counts
    left join attributed on attributed.channel = counts.channel
)

select * from final
