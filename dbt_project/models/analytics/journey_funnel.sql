-- One row per journey: who entered, how they stand now, and what their messages did.
-- entered = converted + exited + active; an instance that finished its steps without
-- converting counts as exited (reason `completed`), see docs/analytics.md.
with instances as (
    select * from {{ ref('journey_instances') }}
),

actions as (
    select * from {{ ref('int_analytics__journey_actions') }}
),

instance_counts as (
    select
        journey,
        count(*) as entered,
        sum(case when arm = 'treatment' then 1 else 0 end) as entered_treatment,
        sum(case when arm = 'control' then 1 else 0 end) as entered_control,
        sum(case when state = 'active' then 1 else 0 end) as active,
        sum(case when state = 'converted' then 1 else 0 end) as converted,
        sum(case when state in ('exited', 'completed') then 1 else 0 end) as exited,
        sum(case when state = 'exited' then 1 else 0 end) as exited_early,
        sum(case when state = 'completed' then 1 else 0 end) as exited_completed
    from instances
    group by journey
),

action_counts as (
    select
        journey,
        count(*) as actions,
        sum(is_due) as due,
        sum(is_deferred) as deferred,
        sum(is_suppressed) as suppressed,
        sum(is_sent) as sent,
        sum(is_delivered) as delivered,
        sum(is_opened) as opened,
        sum(is_clicked) as clicked,
        sum(is_bounced) as bounced
    from actions
    group by journey
),

final as (
    select
        instance_counts.journey,
        instance_counts.entered,
        instance_counts.entered_treatment,
        instance_counts.entered_control,
        instance_counts.active,
        instance_counts.converted,
        instance_counts.exited,
        instance_counts.exited_early,
        instance_counts.exited_completed,
        coalesce(action_counts.actions, 0) as actions,
        coalesce(action_counts.due, 0) as due,
        coalesce(action_counts.deferred, 0) as deferred,
        coalesce(action_counts.suppressed, 0) as suppressed,
        coalesce(action_counts.sent, 0) as sent,
        coalesce(action_counts.delivered, 0) as delivered,
        coalesce(action_counts.opened, 0) as opened,
        coalesce(action_counts.clicked, 0) as clicked,
        coalesce(action_counts.bounced, 0) as bounced
    from instance_counts
    left join action_counts on action_counts.journey = instance_counts.journey
)

select * from final
