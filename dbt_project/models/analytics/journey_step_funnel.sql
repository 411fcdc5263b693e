-- One row per journey, step and arm: candidate messages and what became of them.
with actions as (
    select * from {{ ref('int_analytics__journey_actions') }}
),

final as (
    select
        journey,
        step_id,
        min(step_index) as step_index,
        arm,
        count(*) as actions,
        count(distinct instance_id) as instances,
        sum(is_due) as due,
        sum(is_deferred) as deferred,
        sum(is_suppressed) as suppressed,
        sum(is_sent) as sent,
        sum(is_delivered) as delivered,
        sum(is_opened) as opened,
        sum(is_clicked) as clicked,
        sum(is_bounced) as bounced
    from actions
    group by journey, step_id, arm
)

select * from final
