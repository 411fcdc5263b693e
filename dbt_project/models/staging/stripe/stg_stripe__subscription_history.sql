{{ config(enabled=var('stripe_enabled', false)) }}

-- One row per version of a Stripe subscription (Fivetran's history mode): its status and
-- quantity from version_started_at (_fivetran_start) to version_ended_at (_fivetran_end).
-- Fivetran's own seed lands only _fivetran_active, so the version times are read where
-- they were landed; a version without them is ordered by when it was synced. A connection
-- without history mode lands `subscription` instead: each subscription is then its one,
-- current, version.
{%- set history = source('stripe', 'subscription_history') %}
{%- set subscription = source('stripe', 'subscription') %}
{%- set has_history = landed(history) or not landed(subscription) %}
with source as (
    select * from {{ history if has_history else subscription }}
),

final as (
    select
        cast(id as {{ dbt.type_string() }}) as subscription_id,
        cast(customer_id as {{ dbt.type_string() }}) as stripe_customer_id,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(start_date as {{ dbt.type_timestamp() }}) as started_at,
        cast(canceled_at as {{ dbt.type_timestamp() }}) as canceled_at,
        cast(ended_at as {{ dbt.type_timestamp() }}) as ended_at,
        {%- if has_history %}
        {{ optional_column(history, '_fivetran_start', dbt.type_timestamp()) }} as version_started_at,
        {{ optional_column(history, '_fivetran_end', dbt.type_timestamp()) }} as version_ended_at,
        coalesce(cast(_fivetran_active as boolean), false) as is_current_version,
        {%- else %}
        cast(null as {{ dbt.type_timestamp() }}) as version_started_at,
        cast(null as {{ dbt.type_timestamp() }}) as version_ended_at,
        true as is_current_version,
        {%- endif %}
        cast(_fivetran_synced as {{ dbt.type_timestamp() }}) as synced_at
    from source
)

select * from final
