{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per HubSpot company not deleted (its domain is null when the property was never landed).
with source as (
    select * from {{ source('hubspot', 'company') }}
    where not coalesce(cast(is_deleted as boolean), false)
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as company_id,
        cast(property_name as {{ dbt.type_string() }}) as company_name,
        lower(trim({{ optional_column(source('hubspot', 'company'), 'property_domain', dbt.type_string()) }})) as domain,
        cast(property_industry as {{ dbt.type_string() }}) as industry,
        cast(property_country as {{ dbt.type_string() }}) as country,
        cast(property_annualrevenue as {{ dbt.type_numeric() }}) as annual_revenue,
        cast(property_createdate as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
