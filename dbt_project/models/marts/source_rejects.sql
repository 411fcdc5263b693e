{{ config(enabled=(loaded_sources() | length > 0)) }}

-- Records of the landed sources that cannot count, one row per record with the reason
-- (docs/sources.md): nothing a loader landed is dropped without a row here.
{% set branches = [] %}
{% if var('shopify_enabled', false) %}
    {% do branches.append("select 'shopify.order' as record_table, order_id as record_id, reject_reason, synced_at from " ~ ref('int_profiles__source_orders') ~ " where reject_reason is not null") %}
    {% do branches.append("select 'shopify.order_line_refund', order_line_refund_id, case when refund_id is null then 'refund_without_refund_id' when order_id is null then 'refund_not_landed' else 'refund_for_unknown_order' end, synced_at from " ~ ref('stg_shopify__refunds') ~ " as refunds where order_id is null or order_id not in (select order_id from " ~ ref('stg_shopify__orders') ~ ")") %}
{% endif %}
{% if var('stripe_enabled', false) %}
    {% do branches.append("select 'stripe.subscription_item', subscription_item_id, reject_reason, synced_at from " ~ ref('int_profiles__subscription_items') ~ " where reject_reason is not null") %}
    {% do branches.append("select 'stripe.subscription_history', subscription_id || '@' || cast(moved_at as " ~ dbt.type_string() ~ "), reject_reason, synced_at from " ~ ref('int_profiles__subscription_versions') ~ " where reject_reason is not null") %}
    {% do branches.append("select 'stripe.charge', charge_id, reject_reason, synced_at from " ~ ref('int_profiles__stripe_payments') ~ " where reject_reason is not null") %}
    {% do branches.append("select 'stripe.refund', refund_id, 'refund_for_unknown_charge', synced_at from " ~ ref('stg_stripe__refunds') ~ " where charge_id is null or charge_id not in (select charge_id from " ~ ref('stg_stripe__charges') ~ ")") %}
{% endif %}
{% if var('hubspot_enabled', false) %}
    {#- the email events that would block email (int_journeys__hubspot_email_blocks) but cannot say whom or when, or whether it was an unsubscribe -#}
    {% do branches.append("select 'hubspot.email_event', events.email_event_id, case when events.email is null then 'no_recipient' when events.occurred_at is null then 'no_event_time' else 'status_change_not_landed' end, events.synced_at from " ~ ref('stg_hubspot__email_events') ~ " as events left join " ~ ref('stg_hubspot__email_status_changes') ~ " as changes on changes.email_event_id = events.email_event_id where events.event_type in ('BOUNCE', 'SPAMREPORT', 'STATUSCHANGE') and (events.email is null or events.occurred_at is null or (events.event_type = 'STATUSCHANGE' and changes.email_event_id is null))") %}
{% endif %}
{% if not branches %}
    {% do branches.append("select cast(null as " ~ dbt.type_string() ~ ") as record_table, cast(null as " ~ dbt.type_string() ~ ") as record_id, cast(null as " ~ dbt.type_string() ~ ") as reject_reason, cast(null as " ~ dbt.type_timestamp() ~ ") as synced_at where 1 = 0") %}
{% endif %}

with rejects as (
    {{ branches | join('\n    union all\n    ') }}
),

final as (
    select
        cast(record_table as {{ dbt.type_string() }}) as record_table,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(reject_reason as {{ dbt.type_string() }}) as reject_reason,
        synced_at
    from rejects
)

select * from final
