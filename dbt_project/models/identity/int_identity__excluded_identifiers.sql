-- Identifiers that must not link people, with the reason:
--   blocklisted         listed in the identifier_blocklist seed (placeholders like 'null', '-1');
--   invalid_phone       libphonenumber says the number can't be assigned (0000000000);
--   shared_by_too_many  directly linked to more than var('identity_max_people_per_identifier')
--                       distinct identifiers of one person-level type (user ids, emails,
--                       phones or platform customer ids of a landed source) other than its
--                       own: a shared device, test@test.com.
-- Anonymous ids don't count towards the limit: one person has many devices.
-- An excluded identifier is left out of the graph; everything else still resolves.
with identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

links as (
    select * from {{ ref('int_identity__links') }}
),

blocklist as (
    select * from {{ ref('identifier_blocklist') }}
),

phone_numbers as (
    select * from {{ ref('stg_phone__numbers') }}
),

invalid_phones as (
    select distinct phone_e164
    from phone_numbers
    where not is_valid and phone_e164 is not null
),

neighbours as (
    select identifier_a as identifier, identifier_b as neighbour from links
    union all
    select identifier_b, identifier_a from links
),

people_by_type as (
    select
        neighbours.identifier,
        neighbour_ids.identifier_type as neighbour_type,
        count(*) as people
    from neighbours
    inner join identifiers as own_ids on own_ids.identifier = neighbours.identifier
    inner join identifiers as neighbour_ids on neighbour_ids.identifier = neighbours.neighbour
    where neighbour_ids.identifier_type in ('user_id', 'email', 'phone', 'platform_customer_id')
      and neighbour_ids.identifier_type <> own_ids.identifier_type
    group by neighbours.identifier, neighbour_ids.identifier_type
),

people_per_identifier as (
    select identifier, max(people) as linked_people
    from people_by_type
    group by identifier
),

flagged as (
    select
        identifiers.identifier,
        identifiers.identifier_type,
        identifiers.identifier_value,
        coalesce(people_per_identifier.linked_people, 0) as linked_people,
        blocklist.identifier is not null as is_blocklisted,
        invalid_phones.phone_e164 is not null as is_invalid_phone,
        coalesce(people_per_identifier.linked_people, 0) > {{ var('identity_max_people_per_identifier') }} as is_shared
    from identifiers
    left join people_per_identifier on people_per_identifier.identifier = identifiers.identifier
    left join blocklist on blocklist.identifier = identifiers.identifier
    left join invalid_phones
        on identifiers.identifier_type = 'phone'
        and invalid_phones.phone_e164 = identifiers.identifier_value
),

final as (
    select
        identifier,
        identifier_type,
        identifier_value,
        case
            when is_blocklisted then 'blocklisted'
            when is_invalid_phone then 'invalid_phone'
            else 'shared_by_too_many'
        end as exclusion_reason,
        linked_people
    from flagged
    where is_blocklisted or is_invalid_phone or is_shared
)

select * from final
