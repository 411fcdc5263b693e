{{ config(materialized='view') }}

-- A view: each analytics model reads the few columns it needs from it, which at 1M
-- customers costs less than storing all 6 million actions again on every tick (4.7 s).
-- One row per journey action (candidate message) with what became of it: the decision
-- at now, the ledger's record, and the destination's delivery reports (one flag each).
with decisions as (
    select * from {{ ref('journey_decisions') }}
),

ledger as (
    select * from {{ ref('stg_throughline__delivery_ledger') }}
),

delivery_events as (
    select * from {{ ref('stg_throughline__delivery_events') }}
    where action_id is not null
),

reports as (
    select
        action_id,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type = 'open' then 1 else 0 end) as is_opened,
        max(case when event_type = 'click' then 1 else 0 end) as is_clicked,
        max(case when event_type in ('hard_bounce', 'soft_bounce') then 1 else 0 end) as is_bounced,
        min(case when event_type = 'delivered' then occurred_at end) as delivered_at
    from delivery_events
    group by action_id
),

final as (
    select
        decisions.action_id,
        decisions.journey,
        decisions.step_id,
        decisions.step_index,
        decisions.instance_id,
        decisions.customer_id,
        decisions.arm,
        decisions.channel,
        decisions.variant,
        decisions.scheduled_at,
        decisions.status,
        decisions.reason_code,
        decisions.reason,
        ledger.sent_at,
        case when decisions.status = 'due' then 1 else 0 end as is_due,
        case when decisions.status = 'deferred' then 1 else 0 end as is_deferred,
        case when decisions.status = 'suppressed' then 1 else 0 end as is_suppressed,
        case when ledger.status = 'sent' then 1 else 0 end as is_sent,
        -- A bounce or open proves delivery even when the provider sent no delivered report.
        case when ledger.status = 'sent' and greatest(coalesce(reports.is_delivered, 0), coalesce(reports.is_opened, 0), coalesce(reports.is_clicked, 0)) = 1 then 1 else 0 end as is_delivered,
        case when ledger.status = 'sent' then coalesce(reports.is_opened, 0) else 0 end as is_opened,
        case when ledger.status = 'sent' then coalesce(reports.is_clicked, 0) else 0 end as is_clicked,
        case when ledger.status = 'sent' then coalesce(reports.is_bounced, 0) else 0 end as is_bounced
    from decisions
    left join ledger on ledger.action_id = decisions.action_id
    left join reports on reports.action_id = decisions.action_id
)

select * from final
