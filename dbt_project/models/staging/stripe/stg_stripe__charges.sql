{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe charge, amounts in the currency's major unit (stripe_major_units).
with source as (
    select * from {{ source('stripe', 'charge') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as charge_id,
        cast(customer_id as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(invoice_id as {{ dbt.type_string() }}) as invoice_id,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        {{ stripe_major_units('amount', 'currency') }} as amount,
        {{ stripe_major_units('amount_refunded', 'currency') }} as amount_refunded,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(paid as boolean) as is_paid,
        cast(captured as boolean) as is_captured,
        {{ normalize_email('receipt_email') }} as receipt_email,
        cast(created as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
