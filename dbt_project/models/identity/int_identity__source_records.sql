{{ config(
    enabled=(loaded_sources() | length > 0),
    materialized='incremental',
    incremental_strategy='append',
) }}

-- Every identity-bearing record of the landed sources (docs/sources.md), as the identity
-- graph reads a call: the emails, phones and platform customer ids one record carries
-- together. A Shopify customer, order or abandoned checkout; a Stripe customer or
-- subscription; a HubSpot contact. A platform id is '<source>:<its id>' (shopify:3589760876641), typed
-- platform_customer_id. Append-only: each run takes the records the loader synced since
-- the last (_fivetran_synced per table), stamped loaded when this dbt run started
-- (run_started_timestamp), so the watermarks downstream take them after every call loaded before.
{% set tables = [] %}
{% if var('shopify_enabled', false) %}
    {% do tables.append(('shopify.customer', 'stg_shopify__customers', 'shopify_customer_id', 'shopify_customer_id', 'email', 'raw_phone', 'created_at')) %}
    {% do tables.append(('shopify.order', 'stg_shopify__orders', 'order_id', 'shopify_customer_id', 'email', 'null', 'created_at')) %}
    {% do tables.append(('shopify.abandoned_checkout', 'stg_shopify__abandoned_checkouts', 'checkout_id', 'shopify_customer_id', 'email', 'raw_phone', 'created_at')) %}
{% endif %}
{% if var('stripe_enabled', false) %}
    {% do tables.append(('stripe.customer', 'stg_stripe__customers', 'stripe_customer_id', 'stripe_customer_id', 'email', 'raw_phone', 'created_at')) %}
    {% do tables.append(('stripe.subscription', 'stg_stripe__subscriptions', 'subscription_id', 'stripe_customer_id', 'null', 'null', 'created_at')) %}
{% endif %}
{% if var('hubspot_enabled', false) %}
    {% do tables.append(('hubspot.contact', 'stg_hubspot__contacts', 'contact_id', 'contact_id', 'email', 'raw_phone', 'created_at')) %}
{% endif %}

with records as (
    {% for record_table, model, record_id, customer_id, email, phone, seen_at in tables %}
    select
        '{{ record_table }}' as record_table,
        {{ record_id }} as record_id,
        '{{ record_table.split(".")[0] }}:' || {{ customer_id }} as platform_customer_id,
        cast({{ email }} as {{ dbt.type_string() }}) as email,
        cast({{ phone }} as {{ dbt.type_string() }}) as raw_phone,
        coalesce({{ seen_at }}, synced_at) as occurred_at,
        synced_at
    from {{ ref(model) }}
    {% if is_incremental() %}
    where synced_at > (
        select coalesce(max(known.synced_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ this }} as known
        where known.record_table = '{{ record_table }}'
    )
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        record_table,
        record_id,
        platform_customer_id,
        email,
        raw_phone,
        cast(null as {{ dbt.type_string() }}) as country_code,
        occurred_at,
        synced_at,
        {{ run_started_timestamp() }} as loaded_at
    from records
)

select * from final
