{{ config(materialized='incremental', incremental_strategy='append') }}

-- The identify calls (1-2% of all calls), with what traits need. Append-only: each run
-- adds the identifies loaded since the last one, so int_profiles__traits, rebuilt every
-- run, reads these rows instead of scanning every call for them.
with new_calls as (
    select * from {{ ref('int_identity__calls') }}
    {{ loaded_after_watermark() }}
),

final as (
    select
        message_id,
        occurred_at,
        loaded_at,
        anonymous_id,
        user_id,
        email,
        raw_phone,
        country_code,
        traits,
        timezone
    from new_calls
    where call_type = 'identify'
)

select * from final
