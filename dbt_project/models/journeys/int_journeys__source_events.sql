{{ config(
    enabled=(var('shopify_enabled', false) or var('stripe_enabled', false)),
    materialized='incremental',
    incremental_strategy='append',
) }}

-- The landed sources' facts as the events journeys decide on (docs/sources.md), named as
-- the Segment calls that mean the same are (seed event_catalog):
--   Shopify order (counted, not rejected)  purchase_made {order_id, cart_id, revenue, currency},
--                                          and product_purchased {product_id, order_id} per product;
--   Shopify abandoned checkout             cart_added {cart_id, checkout_id, price, currency}: a
--                                          cart left at checkout, so abandoned_cart can enter on it;
--   Stripe subscription                    subscription_started at its start, and
--                                          cancel_initiated {subscription_id} when cancelled;
--   Stripe subscription version (history)  subscription_upgraded / subscription_downgraded
--                                          {subscription_id, previous_mrr, mrr, currency} when it moved the
--                                          MRR up (expansion) or down (contraction).
-- An event carries the record's platform customer id and email; who the customer is gets
-- decided at read time (int_journeys__events), as for calls. Append-only: each run takes the
-- records synced since the last, stamped loaded when the run started; an event already
-- held (the same record synced again) is not added twice.
{% set branches = [] %}
{% if var('shopify_enabled', false) %}
{% do branches.append(('shopify.order', "
    select
        'shopify.order:' || order_id as message_id,
        'purchase_made' as event_name,
        ordered_at as occurred_at,
        " ~ json_object_text([('order_id', 'order_id'), ('cart_id', 'cart_token'), ('revenue', 'revenue'), ('currency', 'currency_code')]) ~ " as properties,
        'shopify:' || shopify_customer_id as platform_customer_id,
        email,
        synced_at
    from " ~ ref('int_profiles__source_orders') ~ "
    where reject_reason is null")) %}
{% do branches.append(('shopify.order', "
    select distinct
        'shopify.order:' || orders.order_id || ':' || lines.product_id as message_id,
        'product_purchased' as event_name,
        orders.ordered_at as occurred_at,
        " ~ json_object_text([('product_id', 'lines.product_id'), ('order_id', 'orders.order_id')]) ~ " as properties,
        'shopify:' || orders.shopify_customer_id as platform_customer_id,
        orders.email,
        orders.synced_at
    from " ~ ref('int_profiles__source_orders') ~ " as orders
    inner join " ~ ref('stg_shopify__order_lines') ~ " as lines on lines.order_id = orders.order_id
    where orders.reject_reason is null and lines.product_id is not null")) %}
{% do branches.append(('shopify.abandoned_checkout', "
    select
        'shopify.abandoned_checkout:' || checkout_id as message_id,
        'cart_added' as event_name,
        created_at as occurred_at,
        " ~ json_object_text([('cart_id', 'cart_token'), ('checkout_id', 'checkout_token'), ('price', 'total_price'), ('currency', 'currency_code')]) ~ " as properties,
        'shopify:' || shopify_customer_id as platform_customer_id,
        email,
        synced_at
    from " ~ ref('stg_shopify__abandoned_checkouts') ~ "
    where created_at is not null")) %}
{% endif %}
{% if var('stripe_enabled', false) %}
{% do branches.append(('stripe.subscription', "
    select
        'stripe.subscription:' || subscription_id || ':started' as message_id,
        'subscription_started' as event_name,
        started_at as occurred_at,
        " ~ json_object_text([('subscription_id', 'subscription_id')]) ~ " as properties,
        'stripe:' || stripe_customer_id as platform_customer_id,
        cast(null as " ~ dbt.type_string() ~ ") as email,
        synced_at
    from " ~ ref('stg_stripe__subscriptions') ~ "
    where started_at is not null")) %}
{% do branches.append(('stripe.subscription', "
    select
        'stripe.subscription:' || subscription_id || ':cancelled' as message_id,
        'cancel_initiated' as event_name,
        canceled_at as occurred_at,
        " ~ json_object_text([('subscription_id', 'subscription_id')]) ~ " as properties,
        'stripe:' || stripe_customer_id as platform_customer_id,
        cast(null as " ~ dbt.type_string() ~ ") as email,
        synced_at
    from " ~ ref('stg_stripe__subscriptions') ~ "
    where canceled_at is not null")) %}
{% do branches.append(('stripe.subscription_history', "
    select
        'stripe.subscription_history:' || subscription_id || ':' || cast(version_number as " ~ dbt.type_string() ~ ") as message_id,
        case movement_type when 'expansion' then 'subscription_upgraded' else 'subscription_downgraded' end as event_name,
        moved_at as occurred_at,
        " ~ json_object_text([('subscription_id', 'subscription_id'), ('previous_mrr', 'previous_mrr'), ('mrr', 'mrr'), ('currency', 'currency_code')]) ~ " as properties,
        'stripe:' || stripe_customer_id as platform_customer_id,
        cast(null as " ~ dbt.type_string() ~ ") as email,
        synced_at
    from " ~ ref('int_profiles__subscription_versions') ~ "
    where movement_type in ('expansion', 'contraction')")) %}
{% endif %}

with events as (
    {% for record_table, sql in branches %}
    select '{{ record_table }}' as record_table, branch.*
    from ({{ sql }}) as branch
    {% if is_incremental() %}
    where branch.synced_at > (
        select coalesce(max(known.synced_at), cast('1900-01-01' as {{ dbt.type_timestamp() }}))
        from {{ this }} as known
        where known.record_table = '{{ record_table }}'
    )
      and branch.message_id not in (select known.message_id from {{ this }} as known)
    {% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        record_table,
        message_id,
        event_name,
        occurred_at,
        properties,
        platform_customer_id,
        email,
        synced_at,
        {{ run_started_timestamp() }} as loaded_at
    from events
)

select * from final
