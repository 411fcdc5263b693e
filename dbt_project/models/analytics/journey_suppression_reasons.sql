-- One row per journey, step and reason code: the messages that were not sent and why,
-- with one example sentence. The report's "what suppressed the most" reads it.
with actions as (
    select * from {{ ref('int_analytics__journey_actions') }}
    where is_suppressed = 1
),

final as (
    select
        journey,
        step_id,
        reason_code,
        count(*) as suppressed,
        count(distinct customer_id) as customers,
        min(reason) as example_reason
    from actions
    group by journey, step_id, reason_code
)

select * from final
