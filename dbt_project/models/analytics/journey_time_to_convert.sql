-- One row per journey and arm: how long converted instances took from entry to their
-- goal event (hours), and the conversion rate. Time is to the goal that ended the
-- instance (exited_at of a converted instance).
with instances as (
    select * from {{ ref('journey_instances') }}
),

converted as (
    select
        journey,
        arm,
        -- cast: on PostgreSQL datediff / 3600.0 is NUMERIC, on DuckDB a double
        cast({{ dbt.datediff('entered_at', 'exited_at', 'second') }} as {{ type_double() }}) / 3600 as hours_to_convert
    from instances
    where state = 'converted'
),

entered as (
    select journey, arm, count(*) as instances
    from instances
    group by journey, arm
),

final as (
    select
        entered.journey,
        entered.arm,
        entered.instances,
        count(converted.hours_to_convert) as converted,
        cast(count(converted.hours_to_convert) as {{ type_double() }}) / entered.instances as conversion_rate,
        avg(converted.hours_to_convert) as average_hours_to_convert,
        min(converted.hours_to_convert) as fastest_hours_to_convert,
        max(converted.hours_to_convert) as slowest_hours_to_convert
    from entered
    left join converted on converted.journey = entered.journey and converted.arm = entered.arm
    group by entered.journey, entered.arm, entered.instances
)

select * from final
