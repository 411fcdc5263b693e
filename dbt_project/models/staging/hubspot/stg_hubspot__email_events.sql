{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per HubSpot marketing email event (SENT, DELIVERED, OPEN, CLICK, BOUNCE,
-- SPAMREPORT, STATUSCHANGE, ...), by recipient address.
with source as (
    select * from {{ source('hubspot', 'email_event') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as email_event_id,
        cast(type as {{ dbt.type_string() }}) as event_type,
        {{ normalize_email('recipient') }} as email,
        cast(email_campaign_id as {{ dbt.type_string() }}) as email_campaign_id,
        cast(created as {{ dbt.type_timestamp() }}) as occurred_at,
        coalesce(cast(filtered_event as boolean), false) as is_filtered,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
