-- One row per identify call: the traits a person gave, raw as sent (normalised downstream).
with calls as (
    {{ segment_calls('identify') }}
),

final as (
    select
        message_id,
        user_id,
        anonymous_id,
        occurred_at,
        traits,
        {{ json_text('traits', 'email') }} as email,
        {{ json_text('traits', 'phone') }} as phone,
        {{ json_text('traits', 'first_name') }} as first_name,
        {{ json_text('traits', 'last_name') }} as last_name,
        {{ json_text('traits', 'country') }} as country_code,
        {{ json_text('context', 'timezone') }} as timezone,
        {{ json_text('context', 'device.id') }} as device_id,
        loaded_at
    from calls
)

select * from final
