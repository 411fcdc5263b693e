-- The connected components of the identity graph without its excluded identifiers:
-- one row per identifier and the component it belongs to. The component_id is an
-- internal label (stable ids are chosen in int_identity__customer_map). The algorithm
-- (randomised contraction, O(log n) passes) is in macros/connected_components.sql.
with identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

links as (
    select * from {{ ref('int_identity__links') }}
),

excluded as (
    select * from {{ ref('int_identity__excluded_identifiers') }}
),

graph_nodes as (
    select identifier as node_id
    from identifiers
    where identifier not in (select identifier from excluded)
),

graph_edges as (
    select identifier_a as node_a, identifier_b as node_b
    from links
    where identifier_a not in (select identifier from excluded)
      and identifier_b not in (select identifier from excluded)
),

{{ connected_components('graph_nodes', 'graph_edges', var('identity_resolution_passes')) }},

final as (
    select
        node_id as identifier,
        component_id
    from components
)

select * from final
