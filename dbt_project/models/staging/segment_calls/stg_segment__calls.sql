-- Every stored Segment call of any type, typed, one row per stored copy: NOT
-- deduplicated. For incremental models only, which filter on loaded_at first (the
-- filter reaches the raw scan, so JSON is read for new rows only) and then keep the
-- first copy of each message_id they don't hold yet. Everything else reads the
-- deduplicated stg_segment__* views.
with calls as (
    select * from {{ source('segment', 'events') }}
),

final as (
    select
        message_id,
        type as call_type,
        event as event_name,
        name as page_name,
        user_id,
        anonymous_id,
        previous_id,
        occurred_at,
        properties,
        traits,
        {{ json_text('traits', 'email') }} as email,
        {{ json_text('traits', 'phone') }} as phone,
        {{ json_text('traits', 'country') }} as country_code,
        {{ json_text('context', 'timezone') }} as timezone,
        {{ json_text('context', 'device.token') }} as device_token,
        {{ json_text('context', 'device.type') }} as device_type,
        loaded_at,
        source_line
    from calls
)

select * from final
