{{ config(enabled=var('shopify_enabled', false)) }}

-- One row per line item of a Shopify order.
with source as (
    select * from {{ source('shopify', 'order_line') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(product_id as {{ dbt.type_string() }}) as product_id,
        cast(variant_id as {{ dbt.type_string() }}) as variant_id,
        cast(sku as {{ dbt.type_string() }}) as sku,
        cast(price as {{ dbt.type_numeric() }}) as price,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(total_discount as {{ dbt.type_numeric() }}) as total_discount,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
