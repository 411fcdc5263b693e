{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe refund of a charge.
with source as (
    select * from {{ source('stripe', 'refund') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as refund_id,
        cast(charge_id as {{ dbt.type_string() }}) as charge_id,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        {{ stripe_major_units('amount', 'currency') }} as amount,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(reason as {{ dbt.type_string() }}) as reason,
        cast(created as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
