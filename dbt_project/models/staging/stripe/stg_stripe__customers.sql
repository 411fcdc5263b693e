{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe customer, deleted ones flagged (Stripe keeps their charges).
with source as (
    select * from {{ source('stripe', 'customer') }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as stripe_customer_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(cast(phone as {{ dbt.type_string() }})), '') as raw_phone,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        coalesce(cast(is_deleted as boolean), false) as is_deleted,
        cast(created as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
