{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    post_hook="delete from {{ this }} where customer_id not in (select customer_id from {{ ref('int_identity__customer_map') }})",
) }}

-- Sessions of a customer across all their devices: a session is a run of the customer's
-- track and page calls with no gap over var('session_inactivity_minutes') (30), whichever
-- device each call came from. Server-side events (var('session_ignored_events'), e.g.
-- billing renewals) are not visits.
--
-- Built from per-actor visits (int_profiles__actor_visits): sorted by start, a visit
-- opens a new session when it starts more than the limit after every earlier visit of
-- the customer has ended; that is the same as sessionising all the calls at once.
--
-- Incremental per customer: a run recomputes the customers with changed visits or a
-- changed set of identifiers (fingerprint), and drops the sessions of ids that no
-- longer exist (merged away).
{#- A visit's customer: its user id's, else its device's. `visits` names the visits read. -#}
{% set customer_of_visits %}
    coalesce(by_user.customer_id, by_device.customer_id) as customer_id
{% endset %}
{% set visit_customers %}
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = visits.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = visits.anonymous_id
{% endset %}

with customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

fingerprints as (
    -- each customer's set of identifiers: a customer whose identifiers changed (grew,
    -- merged, lost an excluded one) is recomputed
    select
        customer_id,
        {{ set_fingerprint('identifier') }} as identifiers_fingerprint
    from customer_map
    group by customer_id
),

{% if is_incremental() %}
stored_customers as (
    select customer_id, max(identifiers_fingerprint) as identifiers_fingerprint
    from {{ this }}
    group by customer_id
),

changed_customers as {{ materialized_cte() }} (
    select fingerprints.customer_id
    from fingerprints
    left join stored_customers on stored_customers.customer_id = fingerprints.customer_id
    where stored_customers.customer_id is null
       or stored_customers.identifiers_fingerprint <> fingerprints.identifiers_fingerprint
    union
    select {{ customer_of_visits }}
    from {{ ref('int_profiles__actor_visits') }} as visits
    {{ visit_customers }}
    where visits.last_loaded_at > {{ incremental_watermark('last_loaded_at') }}
),

changed_identifiers as {{ materialized_cte() }} (
    select identifier_type, identifier_value
    from customer_map
    where customer_id in (select customer_id from changed_customers)
),

scoped_visits as (
    -- only the visits of the changed customers' users and devices are resolved: the
    -- rest of the history is not read through the customer map
    select * from (
        select {{ customer_of_visits }}, visits.*
        from (
            select * from {{ ref('int_profiles__actor_visits') }}
            where user_id in (select identifier_value from changed_identifiers where identifier_type = 'user_id')
               or anonymous_id in (select identifier_value from changed_identifiers where identifier_type = 'anonymous_id')
        ) as visits
        {{ visit_customers }}
    ) as resolved
    where customer_id in (select customer_id from changed_customers)
),
{% else %}
scoped_visits as (
    select * from (
        select {{ customer_of_visits }}, visits.*
        from {{ ref('int_profiles__actor_visits') }} as visits
        {{ visit_customers }}
    ) as resolved
    where customer_id is not null
),
{% endif %}

reach as (
    select
        scoped_visits.*,
        max(ended_at) over (
            partition by customer_id order by started_at, first_message_id
            rows between unbounded preceding and 1 preceding
        ) as earlier_visits_ended_at
    from scoped_visits
),

starts as (
    -- a visit opens a session when every earlier visit of the customer ended more than
    -- the limit before it starts
    select
        reach.*,
        case
            when earlier_visits_ended_at is null then 1
            when started_at > {{ dbt.dateadd('minute', var('session_inactivity_minutes'), 'earlier_visits_ended_at') }} then 1
            else 0
        end as starts_session
    from reach
),

numbered as (
    select
        starts.*,
        sum(starts_session) over (
            partition by customer_id order by started_at, first_message_id rows between unbounded preceding and current row
        ) as session_number
    from starts
),

sessions as (
    -- each session has exactly one opening visit, its first: it gives the session's first
    -- message and time zone without ranking the visits again
    select
        customer_id,
        session_number,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        -- cast: a sum of bigints is a NUMERIC on PostgreSQL, a HUGEINT on DuckDB
        cast(sum(calls) as {{ dbt.type_bigint() }}) as calls,
        cast(sum(page_views) as {{ dbt.type_bigint() }}) as page_views,
        count(distinct anonymous_id) as devices,
        max(last_loaded_at) as last_loaded_at,
        max(case when starts_session = 1 then first_message_id end) as first_message_id,
        max(case when starts_session = 1 then timezone end) as timezone
    from numbered
    group by customer_id, session_number
),

final as (
    select
        'ses_' || substr({{ dbt.hash('sessions.first_message_id') }}, 1, 16) as session_id,
        sessions.customer_id,
        sessions.session_number,
        sessions.started_at,
        sessions.ended_at,
        -- cast: PostgreSQL's datediff adds up date_part() doubles
        cast({{ dbt.datediff('sessions.started_at', 'sessions.ended_at', 'second') }} as {{ dbt.type_bigint() }}) as duration_seconds,
        sessions.calls,
        sessions.page_views,
        sessions.devices,
        sessions.timezone,
        fingerprints.identifiers_fingerprint,
        sessions.last_loaded_at
    from sessions
    inner join fingerprints on fingerprints.customer_id = sessions.customer_id
)

select * from final
