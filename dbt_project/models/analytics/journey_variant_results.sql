-- One row per A/B-tested step and challenger variant: its conversion against the
-- baseline variant (the first by name), with absolute and relative lift and 95%
-- intervals, as journey_lift does for treated against holdout. A unit is an instance
-- of the treated arm that was assigned a variant of the step; it converted when the
-- instance's state is `converted`.
with instances as (
    select * from {{ ref('journey_instances') }}
),

assignments as (
    select distinct journey, step_id, variant, instance_id
    from {{ ref('int_analytics__journey_actions') }}
    where variant is not null and arm = 'treatment'
),

baselines as (
    select journey, step_id, min(variant) as baseline_variant
    from assignments
    group by journey, step_id
),

challengers as (
    select distinct assignments.journey, assignments.step_id, assignments.variant, baselines.baseline_variant
    from assignments
    inner join baselines
        on baselines.journey = assignments.journey
        and baselines.step_id = assignments.step_id
    where assignments.variant != baselines.baseline_variant
),

units as (
    -- Each challenger compared with the baseline: its own instances are "treatment",
    -- the baseline's are "control".
    select
        challengers.journey,
        challengers.step_id,
        challengers.variant,
        challengers.baseline_variant,
        case when assignments.variant = challengers.variant then 'treatment' else 'control' end as arm,
        case when instances.state = 'converted' then 1 else 0 end as is_converted
    from challengers
    inner join assignments
        on assignments.journey = challengers.journey
        and assignments.step_id = challengers.step_id
        and assignments.variant in (challengers.variant, challengers.baseline_variant)
    inner join instances on instances.instance_id = assignments.instance_id
),

final as (
    {{ conversion_lift('units', ['journey', 'step_id', 'variant', 'baseline_variant']) }}
)

select * from final
