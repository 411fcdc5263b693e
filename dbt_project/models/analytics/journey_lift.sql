-- One row per journey: conversion of the treated arm against the holdout (control)
-- arm, with absolute and relative lift and 95% intervals (macro conversion_lift;
-- formulas in docs/analytics.md). A unit is a journey instance; it converted when its
-- state is `converted` (a goal event within the conversion window after entry), which
-- is measured the same way for both arms.
with instances as (
    select
        journey,
        arm,
        case when state = 'converted' then 1 else 0 end as is_converted
    from {{ ref('journey_instances') }}
),

lift as (
    {{ conversion_lift('instances', ['journey']) }}
),

final as (
    select
        lift.*,
        case
            when absolute_lift_lower > 0 then 'positive'
            when absolute_lift_upper < 0 then 'negative'
            when absolute_lift_lower is null then 'no_holdout'
            else 'inconclusive'
        end as lift_verdict
    from lift
)

select * from final
