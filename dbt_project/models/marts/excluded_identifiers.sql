-- Identifiers left out of identity resolution, and why (see int_identity__excluded_identifiers).
with excluded as (
    select * from {{ ref('int_identity__excluded_identifiers') }}
),

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

final as (
    select
        excluded.identifier_type,
        excluded.identifier_value,
        excluded.exclusion_reason,
        excluded.linked_people,
        identifiers.calls,
        identifiers.first_seen_at,
        identifiers.last_seen_at
    from excluded
    inner join identifiers on identifiers.identifier = excluded.identifier
)

select * from final
