{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per Stripe subscription: its status (active, trialing, past_due, canceled,
-- unpaid, incomplete...) and when it started, was cancelled and ended. A connection with
-- history mode lands `subscription_history` instead of `subscription`: then each
-- subscription's current version (_fivetran_active).
{%- set subscription = source('stripe', 'subscription') %}
{%- set history = source('stripe', 'subscription_history') %}
with source as (
    {%- if landed(subscription) or not landed(history) %}
    select * from {{ subscription }}
    {%- else %}
    select * from {{ history }}
    where coalesce(cast(_fivetran_active as boolean), true)
    {%- endif %}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as subscription_id,
        cast(customer_id as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(start_date as {{ dbt.type_timestamp() }}) as started_at,
        cast(canceled_at as {{ dbt.type_timestamp() }}) as canceled_at,
        cast(cancel_at_period_end as boolean) as cancels_at_period_end,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        cast(current_period_start as {{ dbt.type_timestamp() }}) as current_period_start,
        cast(current_period_end as {{ dbt.type_timestamp() }}) as current_period_end,
        cast(created as {{ dbt.type_timestamp() }}) as created_at,
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
