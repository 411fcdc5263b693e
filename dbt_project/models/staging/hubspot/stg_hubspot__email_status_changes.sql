{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per HubSpot STATUSCHANGE email event: the recipient's subscription status to
-- the portal's marketing email after it (subscribed, unsubscribed), lower case.
with source as (
    select * from {{ source('hubspot', 'email_event_status_change') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as email_event_id,
        lower(cast(portal_subscription_status as {{ dbt.type_string() }})) as subscription_status,
        cast(source as {{ dbt.type_string() }}) as change_source,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
