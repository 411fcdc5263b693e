-- Lead score: the points of each event (seed lead_score_points), each halved for every
-- var('lead_score_half_life_days') of its age, age in whole UTC days up to now:
--   lead_score = sum(points * 0.5 ^ (age_days / half_life_days)), rounded to 2 decimals.
with daily_events as (
    select * from {{ ref('int_profiles__customer_daily_events') }}
),

points as (
    select * from {{ ref('lead_score_points') }}
),

scored_days as (
    select
        daily_events.customer_id,
        points.points * daily_events.events as points,
        {{ dbt.datediff('daily_events.activity_date', 'cast(' ~ throughline_now() ~ ' as date)', 'day') }} as age_days
    from daily_events
    inner join points on points.event_name = daily_events.event_name
),

final as (
    select
        customer_id,
        round(cast(sum(points * power(0.5, age_days / {{ var('lead_score_half_life_days') }}.0)) as {{ dbt.type_numeric() }}), 2) as lead_score
    from scored_days
    group by customer_id
)

select * from final
