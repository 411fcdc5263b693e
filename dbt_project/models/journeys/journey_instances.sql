-- One row per journey instance: who entered which journey when, in which arm, and how
-- it stands now (active, completed, converted or exited, with the reason).
with candidates as (
    select * from {{ ref('journey_candidates') }}
    where row_kind = 'instance'
),

final as (
    select
        instance_id,
        journey,
        customer_id,
        instance_number,
        entered_at,
        arm,
        state,
        exited_at,
        exit_reason,
        completed_at,
        entry_properties,
        journey_priority,
        collision_window_seconds
    from candidates
)

select * from final
