{{ config(materialized='incremental', unique_key='identifier', incremental_strategy='delete+insert') }}

-- One row per identifier ever seen: when it was first and last seen (occurred_at) and
-- first and last loaded. Incremental: new calls update only the identifiers they carry.
with new_calls as (
    {{ identity_calls_since('last_loaded_at') }}
),

new_shapes as (
    {{ call_shapes('new_calls') }}
),

new_observations as (
    {{ shape_identifiers('new_shapes') }}
),

new_stats as (
    select
        identifier,
        min(identifier_type) as identifier_type,
        min(identifier_value) as identifier_value,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(first_loaded_at) as first_loaded_at,
        max(last_loaded_at) as last_loaded_at,
        cast(sum(calls) as bigint) as calls
    from new_observations
    group by identifier
),

{% if is_incremental() %}
merged as (
    select
        new_stats.identifier,
        new_stats.identifier_type,
        new_stats.identifier_value,
        least(new_stats.first_seen_at, coalesce(known.first_seen_at, new_stats.first_seen_at)) as first_seen_at,
        greatest(new_stats.last_seen_at, coalesce(known.last_seen_at, new_stats.last_seen_at)) as last_seen_at,
        coalesce(known.first_loaded_at, new_stats.first_loaded_at) as first_loaded_at,
        new_stats.last_loaded_at,
        new_stats.calls + coalesce(known.calls, 0) as calls
    from new_stats
    left join {{ this }} as known on known.identifier = new_stats.identifier
),
{% else %}
merged as (
    select * from new_stats
),
{% endif %}

final as (
    select * from merged
)

select * from final
