-- Which identifiers belong to which customer: one row per identifier that links people.
with customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

final as (
    select
        customer_id,
        identifier_type,
        identifier_value,
        first_seen_at,
        last_seen_at
    from customer_map
)

select * from final
