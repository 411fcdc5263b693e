{{ config(materialized='incremental', incremental_strategy='append') }}

-- One narrow row per Segment call (track, page, identify, alias): every identifier it
-- carries, the event, when it happened and when it was loaded. Emails are normalised
-- here. Incremental and append-only: each run adds the calls loaded since the last one,
-- keeping the first copy of a message_id (as the stg_segment__* views do).
with first_copies as (
    {{ new_segment_calls() }}
),

final as (
    select
        message_id,
        call_type,
        case when call_type = 'page' then page_name else event_name end as event_name,
        occurred_at,
        loaded_at,
        anonymous_id,
        user_id,
        previous_id,
        case when call_type = 'identify' then {{ normalize_email('email') }} end as email,
        case when call_type = 'identify' then phone end as raw_phone,
        case when call_type = 'identify' then country_code end as country_code,
        case when call_type = 'identify' then traits end as traits,
        timezone,
        -- the device-and-account pair a call came from: profiles aggregate per actor,
        -- then roll actors up to customers, so a merge never invalidates an aggregate
        coalesce(anonymous_id, '') || '|' || coalesce(user_id, '') as actor_key
    from first_copies
)

select * from final
