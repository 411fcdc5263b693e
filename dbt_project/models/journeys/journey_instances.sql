{{ config(
    materialized='incremental',
    incremental_strategy='changed_rows',
    unique_key='instance_id',
    compare_excluding=['computed_at'],
) }}

-- One row per journey instance: who entered which journey when, in which arm, and how
-- it stands now (active, completed, converted or exited, with the reason). An instance
-- whose last step's time has passed is still active while one of its messages is due,
-- deferred or in flight. Incremental per customer, like the journey models.
with candidates as (
{%- if is_incremental() %}
    {{ redecided_rows() }}
{%- else %}
    select * from {{ ref('journey_candidates') }}
{%- endif %}
),

instances as (
    select * from candidates
    where row_kind = 'instance'
),

open_actions as (
    select distinct instance_id
    from candidates
    where row_kind = 'action'
      and status in ('due', 'deferred', 'in_flight')
),

final as (
    select
        instances.instance_id,
        instances.journey,
        instances.customer_id,
        instances.instance_number,
        instances.entered_at,
        instances.arm,
        case
            when instances.state = 'completed' and open_actions.instance_id is not null then 'active'
            else instances.state
        end as state,
        instances.exited_at,
        instances.exit_reason,
        case when open_actions.instance_id is null then instances.completed_at end as completed_at,
        instances.entry_properties,
        instances.journey_priority,
        instances.collision_window_seconds,
        instances.computed_at
    from instances
    left join open_actions on open_actions.instance_id = instances.instance_id
)

select * from final
