{{ config(materialized='incremental', incremental_strategy='append') }}

-- The calls journeys decide on, with the identifiers they carry: track calls with their
-- properties, page calls as `page_viewed`, and one `product_purchased` per product line
-- of a purchase (so "bought the carted product" is an event to match on). Append-only:
-- each run adds the calls loaded since the last one. Who the customer is gets decided at
-- read time (int_journeys__events), so identity merges re-attribute history for free.
with first_copies as (
    {{ new_segment_calls("call_type in ('track', 'page')") }}
),

calls as (
    -- tracks with their properties and pages as `page_viewed`, in one pass
    select
        message_id,
        case when call_type = 'page' then 'page_viewed' else event_name end as event_name,
        occurred_at,
        case when call_type = 'page' then cast(null as {{ dbt.type_string() }}) else properties end as properties,
        user_id,
        anonymous_id,
        loaded_at
    from first_copies
),

purchases as (
    -- The first copies again, not `calls`: DuckDB stores a CTE read twice whole, every call
    -- with its properties (at 1M customers the model took 128.7 s that way, 72.2 s this way).
    select message_id, event_name, occurred_at, properties, user_id, anonymous_id, loaded_at
    from (
        {{ new_segment_calls("call_type in ('track', 'page')") }}
    ) as first_copies_again
    where call_type = 'track' and event_name = 'purchase_made'
),

purchased_products as (
    -- one per product and order, even when an order lists a product on two lines
    select distinct
        purchases.message_id || ':' || {{ json_text('items.item', 'product_id') }} as message_id,
        'product_purchased' as event_name,
        purchases.occurred_at,
        {{ json_object_text([
            ('product_id', json_text('items.item', 'product_id')),
            ('order_id', json_text('purchases.properties', 'order_id')),
        ]) }} as properties,
        purchases.user_id,
        purchases.anonymous_id,
        purchases.loaded_at
    from {{ json_array_items('purchases', 'properties', 'products') }}
),

final as (
    select * from calls
    union all
    select * from purchased_products
)

-- Stored clustered by event and time: a journey reads a few event types, and the
-- engine skips the storage blocks of the others (and of times it has decided on).
select * from final
order by event_name, occurred_at
