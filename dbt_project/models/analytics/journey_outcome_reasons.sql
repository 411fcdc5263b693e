-- One row per journey, outcome and reason: why instances converted or left.
-- Outcomes: converted (reason: the goal), exited (an exit event, a timeout, leaving a
-- segment; or `completed` for finishing the steps without converting), active.
with instances as (
    select * from {{ ref('journey_instances') }}
),

final as (
    select
        journey,
        case when state = 'completed' then 'exited' else state end as outcome,
        case
            when state = 'completed' then 'completed'
            when state = 'active' then 'active'
            else coalesce(exit_reason, 'unknown')
        end as reason,
        count(*) as instances,
        sum(case when arm = 'treatment' then 1 else 0 end) as treatment_instances,
        sum(case when arm = 'control' then 1 else 0 end) as control_instances
    from instances
    group by 1, 2, 3
)

select * from final
