{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per HubSpot contact not deleted, with its email, phone, lifecycle stage and
-- primary company (HubSpot's associatedcompanyid); the properties a portal may not use
-- are null when their column was never landed.
with source as (
    select * from {{ source('hubspot', 'contact') }}
    where not coalesce(cast(_fivetran_deleted as boolean), false)
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as contact_id,
        {{ normalize_email('property_email') }} as email,
        nullif(trim({{ optional_column(source('hubspot', 'contact'), 'property_phone', dbt.type_string()) }}), '') as raw_phone,
        {{ optional_column(source('hubspot', 'contact'), 'property_lifecyclestage', dbt.type_string()) }} as lifecycle_stage,
        {{ optional_column(source('hubspot', 'contact'), 'property_associatedcompanyid', dbt.type_string()) }} as company_id,
        cast(property_hs_merged_object_ids as {{ dbt.type_string() }}) as merged_contact_ids,
        cast(property_createdate as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
