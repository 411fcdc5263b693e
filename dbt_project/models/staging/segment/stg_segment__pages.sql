-- One row per page call.
with calls as (
    {{ segment_calls('page') }}
),

final as (
    select
        message_id,
        name as page_name,
        user_id,
        anonymous_id,
        occurred_at,
        {{ json_text('properties', 'path') }} as page_path,
        {{ json_text('properties', 'url') }} as page_url,
        {{ json_text('properties', 'title') }} as page_title,
        {{ json_text('properties', 'referrer') }} as referrer,
        {{ json_text('context', 'timezone') }} as timezone,
        {{ json_text('context', 'device.id') }} as device_id,
        {{ json_text('context', 'device.type') }} as device_type,
        loaded_at
    from calls
)

select * from final
