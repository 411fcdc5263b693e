{{ config(enabled=var('hubspot_enabled', false)) }}

-- Which contacts each deal is associated with, one row per pair.
with source as (
    select * from {{ source('hubspot', 'deal_contact') }}
),

final as (
    select distinct
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id
    from source
)

select * from final
