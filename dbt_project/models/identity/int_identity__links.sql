{{ config(materialized='incremental', unique_key=['identifier_a', 'identifier_b'], incremental_strategy='delete+insert') }}

-- The edges of the identity graph: two identifiers are linked when one call carries
-- both (an identify with anonymous id, user id, email and phone links all four; an alias
-- links previous_id and user_id). One row per pair, identifier_a < identifier_b.
with new_calls as (
    {{ identity_calls_since('last_loaded_at') }}
),

new_shapes as (
    {{ call_shapes('new_calls') }}
),

pairs as (
    {{ shape_identifier_pairs('new_shapes') }}
),

new_links as (
    select
        identifier_a,
        identifier_b,
        min(first_seen_at) as first_seen_at,
        min(first_loaded_at) as first_loaded_at,
        max(last_loaded_at) as last_loaded_at,
        cast(sum(calls) as bigint) as calls
    from pairs
    group by identifier_a, identifier_b
),

{% if is_incremental() %}
merged as (
    select
        new_links.identifier_a,
        new_links.identifier_b,
        least(new_links.first_seen_at, coalesce(known.first_seen_at, new_links.first_seen_at)) as first_seen_at,
        coalesce(known.first_loaded_at, new_links.first_loaded_at) as first_loaded_at,
        new_links.last_loaded_at,
        new_links.calls + coalesce(known.calls, 0) as calls
    from new_links
    left join {{ this }} as known
        on known.identifier_a = new_links.identifier_a
        and known.identifier_b = new_links.identifier_b
),
{% else %}
merged as (
    select * from new_links
),
{% endif %}

final as (
    select * from merged
)

select * from final
