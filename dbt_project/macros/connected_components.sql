{#-
    Connected components of an undirected graph by randomised contraction
    (Bögeholz, Brand & Todor, "In-database connected component analysis", ICDE 2020).

    nodes: a relation with a `node_id` column (every node, isolated ones too).
    edges: a relation with `node_a`, `node_b` columns.
    Returns a query with one row per node: node_id, component_id (a node of the component).

    One pass:
      1. every node still in the contracted graph draws a pseudo-random key,
         md5('<pass>:' || node) — a fresh draw each pass — and picks the node with the
         smallest key in its closed neighbourhood (itself and its neighbours) as its
         representative;
      2. the graph is contracted: each edge becomes an edge between the representatives
         of its ends, self-loops and duplicates dropped; each original node's label
         follows its representative (the pointer jump: a label points straight at the
         representative of the representative, never along the graph). A label whose
         node has no edge left is final and leaves the working set, so late passes only
         touch the nodes still being merged.
    Each pass shrinks the contracted graph by a constant factor in expectation, whatever
    its shape, so a component of n nodes (a chain of n is the worst case: its diameter
    is n) is one label after O(log n) passes: 15-16 for a chain of 100,000. Passes
    after convergence are cheap: the contracted graph is empty.

    `passes` is fixed when the SQL is compiled (SQL can't loop until done), so the model
    that calls this has a test that fails if any edge still joins two labels.
-#}

{% macro connected_components(nodes, edges, passes) %}
    {%- set as_materialized = materialized_cte() -%}
    active_0 as (
        select node_id, node_id as component_id
        from {{ nodes }}
    ),

    graph_0 as {{ as_materialized }} (
        select distinct
            least(node_a, node_b) as node_a,
            greatest(node_a, node_b) as node_b
        from {{ edges }}
        where node_a <> node_b
    ),
    {%- for pass in range(passes) %}
    {%- set next = pass + 1 %}

    -- pass {{ next }} of {{ passes }}
    representatives_{{ next }} as {{ as_materialized }} (
        select
            graph_node,
            -- a draw is 32 hex digits followed by the node: the smallest draw names the node
            substr(min({{ dbt.hash("'" ~ next ~ ":' || neighbour") }} || neighbour), 33) as representative
        from (
            select node_a as graph_node, node_b as neighbour from graph_{{ pass }}
            union all
            select node_b, node_a from graph_{{ pass }}
            union all
            select node_a, node_a from graph_{{ pass }}
            union all
            select node_b, node_b from graph_{{ pass }}
        ) as neighbourhoods
        group by graph_node
    ),

    graph_{{ next }} as {{ as_materialized }} (
        select distinct
            least(end_a.representative, end_b.representative) as node_a,
            greatest(end_a.representative, end_b.representative) as node_b
        from graph_{{ pass }} as contracted
        inner join representatives_{{ next }} as end_a on end_a.graph_node = contracted.node_a
        inner join representatives_{{ next }} as end_b on end_b.graph_node = contracted.node_b
        where end_a.representative <> end_b.representative
    ),

    -- labels move to their representative; a label whose node has no edge left is final
    moves_{{ next }} as {{ as_materialized }} (
        select
            labels.node_id,
            labels.component_id,
            moved.representative
        from active_{{ pass }} as labels
        left join representatives_{{ next }} as moved on moved.graph_node = labels.component_id
    ),

    active_{{ next }} as (
        select node_id, representative as component_id
        from moves_{{ next }}
        where representative is not null
    ),
    {%- endfor %}

    components as (
        {%- for pass in range(1, passes + 1) %}
        select node_id, component_id from moves_{{ pass }} where representative is null
        union all
        {%- endfor %}
        select node_id, component_id from active_{{ passes }}
    )
{% endmacro %}
