{{ config(enabled=var('shopify_enabled', false)) }}

-- One row per Shopify customer account.
with source as (
    select * from {{ source('shopify', 'customer') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as shopify_customer_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(cast(phone as {{ dbt.type_string() }})), '') as raw_phone,
        cast(state as {{ dbt.type_string() }}) as account_state,
        cast(accepts_marketing as boolean) as accepts_marketing,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
