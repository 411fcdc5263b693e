{{ config(enabled=var('shopify_enabled', false)) }}

-- One row per Shopify order, typed; ids as text so they compare with every other source.
with source as (
    select * from {{ source('shopify', 'order') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as order_id,
        cast(customer_id as {{ dbt.type_string() }}) as shopify_customer_id,
        {{ normalize_email('email') }} as email,
        cast(name as {{ dbt.type_string() }}) as order_name,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        cast(total_price as {{ dbt.type_numeric() }}) as total_price,
        cast(subtotal_price as {{ dbt.type_numeric() }}) as subtotal_price,
        cast(total_tax as {{ dbt.type_numeric() }}) as total_tax,
        cast(total_discounts as {{ dbt.type_numeric() }}) as total_discounts,
        cast(financial_status as {{ dbt.type_string() }}) as financial_status,
        cast(cart_token as {{ dbt.type_string() }}) as cart_token,
        cast(checkout_token as {{ dbt.type_string() }}) as checkout_token,
        cast(created_at as {{ dbt.type_timestamp() }}) as created_at,
        cast(processed_at as {{ dbt.type_timestamp() }}) as processed_at,
        cast(cancelled_at as {{ dbt.type_timestamp() }}) as cancelled_at,
        cast(test as boolean) as is_test,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
