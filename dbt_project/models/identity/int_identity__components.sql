{{ config(
    materialized='incremental',
    unique_key='identifier',
    incremental_strategy='delete+insert',
    post_hook="delete from {{ this }} where identifier in (select identifier from {{ ref('int_identity__excluded_identifiers') }})",
) }}

-- The connected components of the identity graph without its excluded identifiers:
-- one row per identifier and the component it belongs to. The component_id is an
-- internal label (stable ids are chosen in int_identity__customer_map). The algorithm
-- (randomised contraction, O(log n) passes) is in macros/connected_components.sql.
--
-- Incremental: a component changes only when a new link touches it, an identifier in it
-- becomes excluded (it splits), or an identifier joins the graph (new, or no longer
-- excluded). A run resolves again just those components, with every node and link of
-- them; the others keep their rows (a 1M-customer tick: 1.3 s, against 9.4 s for the
-- whole graph). The post-hook drops identifiers excluded since.
with identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

links as (
    select * from {{ ref('int_identity__links') }}
),

excluded as (
    select * from {{ ref('int_identity__excluded_identifiers') }}
),

{% if is_incremental() %}
known as (
    select * from {{ this }}
),

new_links as (
    -- links first loaded since the last run; a link seen again changes nothing
    select identifier_a, identifier_b
    from links
    where first_loaded_at > {{ incremental_watermark('graph_loaded_through') }}
),

joining as {{ materialized_cte() }} (
    -- identifiers the graph has not placed yet: new ones, or ones no longer excluded
    select identifier
    from identifiers
    where identifier not in (select identifier from excluded)
      and not exists (select 1 from known where known.identifier = identifiers.identifier)
),

touched as (
    select identifier_a as identifier from new_links
    union
    select identifier_b from new_links
    union
    select identifier from joining
    union
    -- a joining identifier's old links reach components no new link touches
    select identifier_b from links where identifier_a in (select identifier from joining)
    union
    select identifier_a from links where identifier_b in (select identifier from joining)
    union
    -- an identifier excluded since the last run: its component splits without it
    select identifier from excluded where identifier in (select identifier from known)
),

graph_nodes as {{ materialized_cte() }} (
    select known.identifier as node_id
    from known
    where known.component_id in (
        select known.component_id from known inner join touched on touched.identifier = known.identifier
    )
    union
    select identifier from touched where identifier not in (select identifier from known)
),

graph_edges as (
    select identifier_a as node_a, identifier_b as node_b
    from links
    where identifier_a in (select node_id from graph_nodes)
      and identifier_b in (select node_id from graph_nodes)
      and identifier_a not in (select identifier from excluded)
      and identifier_b not in (select identifier from excluded)
),

resolved_nodes as (
    select node_id from graph_nodes
    where node_id not in (select identifier from excluded)
),
{% else %}
resolved_nodes as (
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
{% endif %}

{{ connected_components('resolved_nodes', 'graph_edges', var('identity_resolution_passes')) }},

final as (
    select
        node_id as identifier,
        component_id,
        -- the newest link this run read: the next run resolves what was linked after it
        (select max(first_loaded_at) from links) as graph_loaded_through
    from components
)

select * from final
