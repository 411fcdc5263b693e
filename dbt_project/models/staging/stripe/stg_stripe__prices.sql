{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per price: Stripe's prices and its older plans in one shape (a plan's id is
-- the id of the price it became, so a price wins where both are landed).
with prices as (
    select
        cast(id as {{ dbt.type_string() }}) as price_id,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        {{ stripe_major_units('unit_amount', 'currency') }} as unit_amount,
        cast(recurring_interval as {{ dbt.type_string() }}) as billing_interval,
        cast(recurring_interval_count as {{ dbt.type_int() }}) as billing_interval_count,
        cast(type as {{ dbt.type_string() }}) as price_type,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from {{ source('stripe', 'price') }}
),

plans as (
    select
        cast(id as {{ dbt.type_string() }}) as price_id,
        upper(cast(currency as {{ dbt.type_string() }})) as currency_code,
        {{ stripe_major_units('amount', 'currency') }} as unit_amount,
        cast({{ adapter.quote('interval') }} as {{ dbt.type_string() }}) as billing_interval,
        cast(interval_count as {{ dbt.type_int() }}) as billing_interval_count,
        'recurring' as price_type,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from {{ source('stripe', 'plan') }}
    where cast(id as {{ dbt.type_string() }}) not in (select price_id from prices)
),

final as (
    select * from prices
    union all
    select * from plans
)

select * from final
