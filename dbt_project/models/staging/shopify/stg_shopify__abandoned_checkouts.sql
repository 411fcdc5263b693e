{{ config(enabled=var('shopify_enabled', false)) }}

-- One row per abandoned checkout, those Shopify deleted left out (_fivetran_deleted).
-- completed_at is set once the checkout became an order after all.
with source as (
    select * from {{ source('shopify', 'abandoned_checkout') }}
    where not coalesce(cast(_fivetran_deleted as boolean), false)
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as checkout_id,
        cast(token as {{ dbt.type_string() }}) as checkout_token,
        cast(cart_token as {{ dbt.type_string() }}) as cart_token,
        cast(customer_id as {{ dbt.type_string() }}) as shopify_customer_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(cast(phone as {{ dbt.type_string() }})), '') as raw_phone,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        cast(total_price as {{ dbt.type_numeric() }}) as total_price,
        cast(abandoned_checkout_url as {{ dbt.type_string() }}) as recovery_url,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        cast(completed_at as {{ dbt.type_timestamp() }}) as completed_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
