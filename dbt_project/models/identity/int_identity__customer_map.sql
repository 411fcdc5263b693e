-- Every linkable identifier with its customer. A customer's id is derived from its anchor:
-- the identifier of the component that was loaded first (then seen first, then by
-- name). New data only ever adds later-loaded identifiers, so a growing customer keeps
-- its anchor and its id; when two customers merge, the anchor loaded first survives.
-- The id is a pure function of the raw data, so a full refresh gives the same ids.
with identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

components as (
    select * from {{ ref('int_identity__components') }}
),

ranked as (
    select
        components.component_id,
        identifiers.*,
        row_number() over (
            partition by components.component_id
            order by identifiers.first_loaded_at, identifiers.first_seen_at, identifiers.identifier
        ) as anchor_rank
    from components
    inner join identifiers on identifiers.identifier = components.identifier
),

anchors as (
    select
        component_id,
        identifier as anchor_identifier,
        'cus_' || substr({{ dbt.hash('identifier') }}, 1, 16) as customer_id
    from ranked
    where anchor_rank = 1
),

final as (
    select
        ranked.identifier,
        ranked.identifier_type,
        ranked.identifier_value,
        anchors.customer_id,
        anchors.anchor_identifier,
        ranked.anchor_rank = 1 as is_anchor,
        ranked.first_seen_at,
        ranked.last_seen_at,
        ranked.first_loaded_at
    from ranked
    inner join anchors on anchors.component_id = ranked.component_id
)

select * from final
