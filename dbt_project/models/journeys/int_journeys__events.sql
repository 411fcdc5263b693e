{{ config(materialized='view') }}

-- The events journeys decide on, each with the customer it belongs to today (by user id,
-- else by device). A view: journeys filter it by event name first, so each reads and
-- resolves only the events it uses.
with calls as (
    select * from {{ ref('int_journeys__calls') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        coalesce(by_user.customer_id, by_device.customer_id) as customer_id,
        calls.event_name,
        calls.occurred_at,
        calls.properties,
        calls.message_id,
        calls.loaded_at
    from calls
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = calls.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = calls.anonymous_id
)

select * from final
