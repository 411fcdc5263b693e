-- Customer ids that stopped existing because their customer merged into another one:
-- look an old id up here to find the customer it is now part of.
with registry as (
    select * from {{ ref('int_identity__customer_id_registry') }}
),

final as (
    select
        customer_id as merged_customer_id,
        merged_into_customer_id as customer_id,
        anchor_identifier as merged_anchor_identifier,
        first_built_at as merged_customer_first_built_at,
        merged_at
    from registry
    where merged_at is not null
      and merged_into_customer_id is not null
)

select * from final
