-- One row per (raw phone, country) pair seen in identify traits, with its E.164 form.
with numbers as (
    select * from {{ source('phone', 'phone_numbers') }}
),

final as (
    select
        raw_phone || '|' || coalesce(country_code, '') as phone_number_key,
        raw_phone,
        country_code,
        e164 as phone_e164,
        is_valid,
        reason as invalid_reason,
        is_known_range,
        normalised_at
    from numbers
)

select * from final
