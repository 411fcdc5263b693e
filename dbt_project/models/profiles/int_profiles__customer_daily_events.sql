-- Track events per customer, event and UTC day, up to now exactly: complete days come
-- from the incremental per-actor rollup, the day of now is read from the calls up to
-- now. Each actor's counts go to the customer the actor belongs to today. A view: each
-- reader filters on the events it needs before the rows are resolved to customers.
{{ config(materialized='view') }}

with daily_events as (
    select * from {{ ref('int_profiles__actor_daily_events') }}
),

calls as (
    select * from {{ ref('int_identity__calls') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

complete_days as (
    select anonymous_id, user_id, event_name, activity_date, events, first_occurred_at, last_occurred_at
    from daily_events
    where activity_date < cast({{ throughline_now() }} as date)
),

day_of_now as (
    select
        anonymous_id,
        user_id,
        event_name,
        cast(occurred_at as date) as activity_date,
        count(*) as events,
        min(occurred_at) as first_occurred_at,
        max(occurred_at) as last_occurred_at
    from calls
    where call_type = 'track'
      and occurred_at >= cast(cast({{ throughline_now() }} as date) as {{ dbt.type_timestamp() }})
      and occurred_at <= {{ throughline_now() }}
    group by anonymous_id, user_id, event_name, cast(occurred_at as date)
),

actor_days as (
    select * from complete_days
    union all
    select * from day_of_now
),

final as (
    select
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        actor_days.event_name,
        actor_days.activity_date,
        actor_days.events,
        actor_days.first_occurred_at,
        actor_days.last_occurred_at
    from actor_days
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = actor_days.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = actor_days.anonymous_id
)

select * from final
where customer_id is not null
