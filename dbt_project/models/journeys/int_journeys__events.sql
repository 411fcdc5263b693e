{{ config(materialized='view') }}

-- The events journeys decide on, each with the customer it belongs to today (by user id,
-- else by device). A view: journeys filter it by event name first, so each reads and
-- resolves only the events it uses. With Shopify or Stripe on, their facts too
-- (int_journeys__source_events), by platform customer id, else by email.
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
    {%- if var('shopify_enabled', false) or var('stripe_enabled', false) %}

    union all

    select
        coalesce(by_platform_id.customer_id, by_email.customer_id) as customer_id,
        source_events.event_name,
        source_events.occurred_at,
        source_events.properties,
        source_events.message_id,
        source_events.loaded_at
    from {{ ref('int_journeys__source_events') }} as source_events
    left join customer_map as by_platform_id
        on by_platform_id.identifier_type = 'platform_customer_id'
        and by_platform_id.identifier_value = source_events.platform_customer_id
    left join customer_map as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = source_events.email
    {%- endif %}
)

select * from final
