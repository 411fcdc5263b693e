-- One row per track call: the event name, who, when (UTC), and its properties as JSON text.
with calls as (
    {{ segment_calls('track') }}
),

final as (
    select
        message_id,
        event as event_name,
        user_id,
        anonymous_id,
        occurred_at,
        properties,
        {{ json_text('context', 'timezone') }} as timezone,
        {{ json_text('context', 'device.id') }} as device_id,
        {{ json_text('context', 'device.type') }} as device_type,
        loaded_at
    from calls
)

select * from final
