{{ config(materialized='view') }}

-- Every call with the customer it belongs to today. All identifiers a call carries that
-- link people are in one customer (the call itself links them), so the first of them
-- that resolves names the customer; a call carrying only excluded identifiers (a bare
-- anonymousId 'null') belongs to no one. A view: merges re-attribute history for free.
with calls as (
    select * from {{ ref('int_identity__calls') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        calls.*,
        coalesce(
            by_user.customer_id, by_device.customer_id, by_previous_device.customer_id, by_email.customer_id
        ) as customer_id
    from calls
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = calls.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = calls.anonymous_id
    left join customer_map as by_previous_device
        on by_previous_device.identifier_type = 'anonymous_id' and by_previous_device.identifier_value = calls.previous_id
    left join customer_map as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = calls.email
)

select * from final
