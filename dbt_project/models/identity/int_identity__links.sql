{{ config(materialized='incremental', unique_key=['identifier_a', 'identifier_b'], incremental_strategy='delete+insert') }}

-- The edges of the identity graph: two identifiers are linked when one call carries
-- both (an identify with anonymous id, user id, email and phone links all four; an alias
-- links previous_id and user_id). One row per pair, identifier_a < identifier_b.
with new_calls as (
    select * from {{ ref('int_identity__calls') }}
    {{ loaded_after_watermark('loaded_at', 'last_loaded_at') }}
),

new_observations as (
    {{ call_identifiers('new_calls') }}
),

pairs as (
    select
        one.identifier as identifier_a,
        other.identifier as identifier_b,
        one.occurred_at,
        one.loaded_at
    from new_observations as one
    inner join new_observations as other
        on other.message_id = one.message_id
        and other.identifier > one.identifier
),

new_links as (
    select
        identifier_a,
        identifier_b,
        min(occurred_at) as first_seen_at,
        min(loaded_at) as first_loaded_at,
        max(loaded_at) as last_loaded_at,
        count(*) as calls
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
