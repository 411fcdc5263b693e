{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per subscription item: a price (plan_id, which is also the price's id) and a quantity.
with source as (
    select * from {{ source('stripe', 'subscription_item') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as subscription_item_id,
        cast(subscription_id as {{ dbt.type_string() }}) as subscription_id,
        cast(plan_id as {{ dbt.type_string() }}) as price_id,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(created as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
