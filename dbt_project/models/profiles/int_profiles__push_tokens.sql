{{ config(materialized='incremental', unique_key='device_token', incremental_strategy='delete+insert') }}

-- One row per push token a mobile SDK sent (context.device.token): the device's latest
-- anonymousId and userId with it, and when it was last seen. Incremental: new calls
-- replace only the tokens they carry, merged with what was stored (a late call does not
-- undo a newer one).
with new_calls as (
    -- a call stored twice changes nothing here: the latest sighting wins either way
    select device_token, device_type, anonymous_id, user_id, occurred_at, loaded_at
    from {{ ref('stg_segment__calls') }}
    {{ loaded_after_watermark('loaded_at', 'last_loaded_at') }}
),

token_calls as (
    select * from new_calls where device_token is not null
),

{% if is_incremental() %}
candidates as (
    select device_token, device_type, anonymous_id, user_id, last_seen_at as occurred_at, last_loaded_at as loaded_at
    from {{ this }}
    where device_token in (select device_token from token_calls)

    union all

    select * from token_calls
),
{% else %}
candidates as (
    select * from token_calls
),
{% endif %}

ranked as (
    select
        candidates.*,
        row_number() over (partition by device_token order by occurred_at desc, loaded_at desc) as recency_rank,
        max(loaded_at) over (partition by device_token) as newest_load
    from candidates
),

final as (
    select
        device_token,
        device_type,
        anonymous_id,
        user_id,
        occurred_at as last_seen_at,
        newest_load as last_loaded_at
    from ranked
    where recency_rank = 1
)

select * from final
