{{ config(enabled=var('hubspot_enabled', false), materialized='view') }}

-- HubSpot's marketing email events that block email to their recipient, in the shape of
-- the destinations' delivery reports (stg_throughline__delivery_events), so
-- int_journeys__reachability blocks the channel for them as it does for those:
--   BOUNCE                          hard_bounce (HubSpot reports a temporary failure as DEFERRED);
--   SPAMREPORT                      complaint;
--   STATUSCHANGE to unsubscribed    unsubscribe.
-- The customer is the one the recipient's email belongs to in the identity graph, so
-- every address of that person is blocked, as a report for the customer is.
with email_events as (
    select * from {{ ref('stg_hubspot__email_events') }}
),

status_changes as (
    select * from {{ ref('stg_hubspot__email_status_changes') }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

blocking as (
    select
        email_events.email_event_id,
        case email_events.event_type
            when 'BOUNCE' then 'hard_bounce'
            when 'SPAMREPORT' then 'complaint'
            when 'STATUSCHANGE' then 'unsubscribe'
        end as event_type,
        email_events.email,
        email_events.occurred_at
    from email_events
    left join status_changes on status_changes.email_event_id = email_events.email_event_id
    where email_events.email is not null
      and email_events.occurred_at is not null
      and (email_events.event_type in ('BOUNCE', 'SPAMREPORT')
           or (email_events.event_type = 'STATUSCHANGE' and status_changes.subscription_status = 'unsubscribed'))
),

final as (
    select
        cast('hubspot' as {{ dbt.type_string() }}) as provider,
        blocking.email_event_id as event_id,
        blocking.event_type,
        cast('email' as {{ dbt.type_string() }}) as channel,
        blocking.email as address,
        cast(null as {{ dbt.type_string() }}) as action_id,
        customer_map.customer_id,
        blocking.occurred_at
    from blocking
    left join customer_map
        on customer_map.identifier_type = 'email'
        and customer_map.identifier_value = blocking.email
)

select * from final
