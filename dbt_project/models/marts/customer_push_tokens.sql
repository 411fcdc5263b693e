{{ config(materialized='view') }}

-- Each customer's push address for FCM: the token their app sent most recently (from a
-- device logged in as them, else an anonymous device that is theirs). When FCM reported
-- that token as gone (a push hard_bounce naming it), push is blocked for the customer
-- (int_journeys__reachability) until the app sends a new one, after a reinstall.
with tokens as (
    select * from {{ ref('int_profiles__push_tokens') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

unregistered as (
    select distinct address as device_token
    from {{ ref('stg_throughline__delivery_events') }}
    where provider = 'fcm' and channel = 'push' and event_type = 'hard_bounce' and address is not null
),

owned as (
    select
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        tokens.device_token,
        tokens.device_type,
        tokens.last_seen_at
    from tokens
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = tokens.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = tokens.anonymous_id
),

latest as (
    select customer_id, device_token, device_type, last_seen_at
    from (
        select
            owned.*,
            row_number() over (partition by customer_id order by last_seen_at desc, device_token) as recency_rank
        from owned
        where customer_id is not null
    ) as ranked
    where recency_rank = 1
),

final as (
    select
        latest.customer_id,
        latest.device_token,
        latest.device_type,
        latest.last_seen_at,
        unregistered.device_token is not null as is_unregistered
    from latest
    left join unregistered on unregistered.device_token = latest.device_token
)

select * from final
