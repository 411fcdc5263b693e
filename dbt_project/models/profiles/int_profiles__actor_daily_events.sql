{{ config(materialized='incremental', unique_key=['actor_key', 'event_name', 'activity_date'], incremental_strategy='delete+insert') }}

-- Track events per actor, event and UTC day: how many, first and last. The compact input
-- of lead scores, consent and lifecycle milestones. Incremental: new calls update only
-- their (actor, event, day) rows.
with new_calls as (
    select * from {{ ref('int_identity__calls') }}
    where call_type = 'track'
    {%- if is_incremental() %}
      and loaded_at > {{ incremental_watermark('last_loaded_at') }}
    {%- endif %}
),

new_days as (
    select
        actor_key,
        min(anonymous_id) as anonymous_id,
        min(user_id) as user_id,
        event_name,
        cast(occurred_at as date) as activity_date,
        count(*) as events,
        min(occurred_at) as first_occurred_at,
        max(occurred_at) as last_occurred_at,
        max(loaded_at) as last_loaded_at
    from new_calls
    group by actor_key, event_name, cast(occurred_at as date)
),

{% if is_incremental() %}
merged as (
    select
        new_days.actor_key,
        new_days.anonymous_id,
        new_days.user_id,
        new_days.event_name,
        new_days.activity_date,
        new_days.events + coalesce(known.events, 0) as events,
        least(new_days.first_occurred_at, coalesce(known.first_occurred_at, new_days.first_occurred_at)) as first_occurred_at,
        greatest(new_days.last_occurred_at, coalesce(known.last_occurred_at, new_days.last_occurred_at)) as last_occurred_at,
        new_days.last_loaded_at
    from new_days
    left join {{ this }} as known
        on known.actor_key = new_days.actor_key
        and known.event_name = new_days.event_name
        and known.activity_date = new_days.activity_date
),
{% else %}
merged as (
    select * from new_days
),
{% endif %}

final as (
    select * from merged
)

select * from final
