-- Can a customer be reached on each channel now, and if not, why: one row per customer
-- and channel. Journeys combine this with their consent policy; a hard bounce, a
-- complaint or an unsubscribe reported by a destination (or, with HubSpot on, by
-- HubSpot's marketing email: int_journeys__hubspot_email_blocks) blocks the channel
-- whatever the policy says.
--
-- A view: a tick reads it only for the customers it re-decides, so rebuilding every
-- customer's rows each run (and checkpointing them) cost more than the reads.
{{ config(materialized='view') }}

with customers as (
    select * from {{ ref('dim_customers') }}
),

push_tokens as (
    select * from {{ ref('customer_push_tokens') }}
),

delivery_events as (
    select
        *,
        coalesce(provider = 'fcm' and channel = 'push' and address is not null, false) as names_fcm_token
    from {{ ref('stg_throughline__delivery_events') }}
    where event_type in ('hard_bounce', 'complaint', 'unsubscribe')
      and occurred_at <= {{ throughline_now() }}
    {%- if var('hubspot_enabled', false) %}

    union all

    -- HubSpot's own marketing email reports (docs/sources.md): a hard bounce, a spam
    -- report or an unsubscribe there blocks email here too
    select *, false as names_fcm_token
    from {{ ref('int_journeys__hubspot_email_blocks') }}
    where occurred_at <= {{ throughline_now() }}
    {%- endif %}
),

blocks as (
    -- The first blocking report per customer and channel, matched by customer or address
    -- (equality joins, not one join on `or`, which the engine could only loop).
    select customer_id, channel, event_type, occurred_at
    from (
        select
            customer_id,
            channel,
            event_type,
            occurred_at,
            row_number() over (
                partition by customer_id, channel
                order by occurred_at, event_type
            ) as report_rank
        from (
            select customers.customer_id, delivery_events.channel, delivery_events.event_type, delivery_events.occurred_at
            from delivery_events
            inner join customers on customers.customer_id = delivery_events.customer_id
            where not delivery_events.names_fcm_token

            union

            -- an FCM token reported gone blocks push while it is the customer's latest: a reinstall sends a new one
            select push_tokens.customer_id, delivery_events.channel, delivery_events.event_type, delivery_events.occurred_at
            from delivery_events
            inner join push_tokens on delivery_events.names_fcm_token and delivery_events.address = push_tokens.device_token

            union

            select customers.customer_id, delivery_events.channel, delivery_events.event_type, delivery_events.occurred_at
            from delivery_events
            inner join customers on delivery_events.channel = 'email' and delivery_events.address = customers.email

            union

            select customers.customer_id, delivery_events.channel, delivery_events.event_type, delivery_events.occurred_at
            from delivery_events
            inner join customers on delivery_events.channel = 'sms' and delivery_events.address = customers.phone
        ) as matched_reports
    ) as reports
    where report_rank = 1
),

channels as (
    select customer_id, 'email' as channel, email is not null as has_address, has_email_consent as has_consent from customers
    union all
    select customer_id, 'sms', phone is not null, has_sms_consent from customers
    union all
    select customer_id, 'push', is_known, has_push_consent from customers
    union all
    select customer_id, 'in_app', is_known, true from customers
    union all
    select customer_id, 'webhook', true, true from customers
    union all
    select customer_id, 'ad_audience', email is not null or phone is not null, has_email_consent from customers
    union all
    -- A CRM contact is found or created by email.
    select customer_id, 'crm', email is not null, true from customers
),

final as (
    select
        channels.customer_id,
        channels.channel,
        channels.has_address,
        coalesce(channels.has_consent, false) as has_consent,
        blocks.event_type as blocked_by,
        blocks.occurred_at as blocked_at
    from channels
    left join blocks
        on blocks.customer_id = channels.customer_id
        and blocks.channel = channels.channel
)

select * from final
