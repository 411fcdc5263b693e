{{ config(materialized='incremental', unique_key='actor_key', incremental_strategy='delete+insert') }}

-- Visits of one actor (a device, or a device logged in as one user): runs of its track
-- and page calls with no gap over var('session_inactivity_minutes'). fct_sessions joins
-- the visits of all of a customer's actors into sessions across devices; that gives
-- exactly the sessions of the customer's calls taken together, because a visit has no
-- inner gap over the limit.
--
-- Incremental: for each actor with new calls, the visits that new calls can't touch
-- (ended more than the limit before the earliest new call) are kept as they are, and
-- the rest are sessionised again from the first visit that could change.

{#- Calls that are visits. Read twice in an incremental run (new calls, calls to
    sessionise again), so a filter rather than a CTE: DuckDB would materialise such a
    CTE in full, every call, before the watermark could prune it. #}
{% set visit_calls -%}
    call_type in ('track', 'page')
    and coalesce(event_name, '') not in (
        {%- for event in var('session_ignored_events') %}'{{ event }}'{{ ',' if not loop.last }}{% endfor -%}
    )
{%- endset %}

with
{% if is_incremental() %}
changed_actors as {{ materialized_cte() }} (
    select actor_key, min(occurred_at) as earliest_new_at
    from {{ ref('int_identity__calls') }}
    where {{ visit_calls }}
      and loaded_at > {{ incremental_watermark('last_loaded_at') }}
    group by actor_key
),

known_visits as {{ materialized_cte() }} (
    select known.*, changed_actors.earliest_new_at
    from {{ this }} as known
    inner join changed_actors on changed_actors.actor_key = known.actor_key
),

resume_points as {{ materialized_cte() }} (
    select
        changed_actors.actor_key,
        coalesce(
            min(case when known_visits.ended_at >= {{ dbt.dateadd('minute', -1 * var('session_inactivity_minutes'), 'changed_actors.earliest_new_at') }}
                     then known_visits.visit_number end),
            max(known_visits.visit_number) + 1,
            1
        ) as resume_visit_number,
        -- from that visit's start, or from the earliest new call if it comes first
        least(
            coalesce(
                min(case when known_visits.ended_at >= {{ dbt.dateadd('minute', -1 * var('session_inactivity_minutes'), 'changed_actors.earliest_new_at') }}
                         then known_visits.started_at end),
                changed_actors.earliest_new_at
            ),
            changed_actors.earliest_new_at
        ) as resume_at
    from changed_actors
    left join known_visits on known_visits.actor_key = changed_actors.actor_key
    group by changed_actors.actor_key, changed_actors.earliest_new_at
),

kept_visits as (
    select
        known_visits.actor_key, known_visits.anonymous_id, known_visits.user_id, known_visits.visit_number,
        known_visits.started_at, known_visits.ended_at, known_visits.calls, known_visits.page_views,
        known_visits.last_loaded_at, known_visits.first_message_id, known_visits.timezone
    from known_visits
    inner join resume_points on resume_points.actor_key = known_visits.actor_key
    where known_visits.visit_number < resume_points.resume_visit_number
),

actor_calls as {{ inlined_cte() }} (
    select calls.*, resume_points.resume_visit_number - 1 as visits_before
    from {{ ref('int_identity__calls') }} as calls
    inner join resume_points
        on resume_points.actor_key = calls.actor_key
        and calls.occurred_at >= resume_points.resume_at
    where {{ visit_calls }}
      -- the same bound for everyone first: a cheap range filter before the join
      and calls.occurred_at >= (select min(resume_at) from resume_points)
),
{% else %}
actor_calls as {{ inlined_cte() }} (
    select calls.*, 0 as visits_before
    from {{ ref('int_identity__calls') }} as calls
    where {{ visit_calls }}
),
{% endif %}

actors as (
    -- an actor's ids, apart: the windows below sort every call, and each column they carry
    -- is sorted with it (the 1M full-build query: 74 s with the ids, 56 s without)
    select actor_key, min(anonymous_id) as anonymous_id, min(user_id) as user_id
    from actor_calls
    group by actor_key
),

gaps as (
    select
        actor_key, message_id, call_type, occurred_at, loaded_at, timezone, visits_before,
        lag(occurred_at) over (partition by actor_key order by occurred_at, message_id) as previous_call_at
    from actor_calls
),

starts as (
    -- a call starts a visit when it is the actor's first (of this run) or comes after a gap
    select
        gaps.*,
        case
            when previous_call_at is null then 1
            when occurred_at > {{ dbt.dateadd('minute', var('session_inactivity_minutes'), 'previous_call_at') }} then 1
            else 0
        end as starts_visit
    from gaps
),

numbered as (
    select
        starts.*,
        visits_before + sum(starts_visit) over (
            partition by actor_key order by occurred_at, message_id rows between unbounded preceding and current row
        ) as visit_number
    from starts
),

sessionised as (
    -- each visit has exactly one starting call, its first: it gives the visit's first
    -- message and time zone without ranking the calls again
    select
        actor_key,
        visit_number,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as calls,
        sum(case when call_type = 'page' then 1 else 0 end) as page_views,
        max(loaded_at) as last_loaded_at,
        max(case when starts_visit = 1 then message_id end) as first_message_id,
        max(case when starts_visit = 1 then timezone end) as timezone
    from numbered
    group by actor_key, visit_number
),

final as (
    select
        sessionised.actor_key, actors.anonymous_id, actors.user_id, sessionised.visit_number, sessionised.started_at,
        sessionised.ended_at, sessionised.calls, sessionised.page_views, sessionised.last_loaded_at,
        sessionised.first_message_id, sessionised.timezone
    from sessionised
    inner join actors on actors.actor_key = sessionised.actor_key
    {%- if is_incremental() %}
    union all
    select * from kept_visits
    {%- endif %}
)

select * from final
