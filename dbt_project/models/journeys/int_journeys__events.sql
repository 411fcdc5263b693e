-- The events journeys decide on: every track call of a resolved customer with its
-- properties, page calls as `page_viewed`, and one `product_purchased` per product line
-- of a purchase (so "bought the carted product" is an event to match on).
with customer_calls as (
    select message_id, customer_id
    from {{ ref('int_profiles__customer_calls') }}
    where customer_id is not null
),

tracks as (
    select customer_calls.customer_id, tracks.event_name, tracks.occurred_at, tracks.properties, tracks.message_id
    from {{ ref('stg_segment__tracks') }} as tracks
    inner join customer_calls on customer_calls.message_id = tracks.message_id
),

pages as (
    select
        customer_calls.customer_id,
        'page_viewed' as event_name,
        pages.occurred_at,
        cast(null as {{ dbt.type_string() }}) as properties,
        pages.message_id
    from {{ ref('stg_segment__pages') }} as pages
    inner join customer_calls on customer_calls.message_id = pages.message_id
),

purchases as (
    select * from tracks where event_name = 'purchase_made'
),

purchased_products as (
    select
        purchases.customer_id,
        'product_purchased' as event_name,
        purchases.occurred_at,
        {{ json_object_text([
            ('product_id', json_text('items.item', 'product_id')),
            ('order_id', json_text('purchases.properties', 'order_id')),
        ]) }} as properties,
        purchases.message_id || ':' || {{ json_text('items.item', 'product_id') }} as message_id
    from {{ json_array_items('purchases', 'properties', 'products') }}
),

final as (
    select * from tracks
    union all
    select * from pages
    union all
    select * from purchased_products
)

select * from final
