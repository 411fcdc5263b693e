{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe invoice, amounts in the currency's major unit.
with source as (
    select * from {{ source('stripe', 'invoice') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as invoice_id,
        cast(customer_id as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(subscription_id as {{ dbt.type_string() }}) as subscription_id,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        {{ stripe_major_units('amount_due', 'currency') }} as amount_due,
        {{ stripe_major_units('amount_paid', 'currency') }} as amount_paid,
        {{ stripe_major_units('total', 'currency') }} as total,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(billing_reason as {{ dbt.type_string() }}) as billing_reason,
        cast(period_start as {{ dbt.type_timestamp() }}) as period_start,
        cast(period_end as {{ dbt.type_timestamp() }}) as period_end,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
