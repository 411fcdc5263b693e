{#- Every identifier a call carries, one row per (call, identifier), from a relation of
    int_identity__calls rows: anonymous id, alias previous id (a device id too), user id,
    normalised email, and the E.164 phone from the phone lookup. An identifier is written
    '<type>:<value>' (user_id:usr_1a2b3c4d, email:ana@example.com) so the graph works on
    one column. A call carries each identifier once (the identifier types differ, and an
    alias's previous id is left out where it is its anonymous id), so no `distinct` is
    needed: over every call of a full build it was a hash of ~150 million rows at 1M
    customers that ran out of memory. -#}
{% macro call_identifiers(calls) %}
    select
        message_id,
        occurred_at,
        loaded_at,
        identifier_type || ':' || identifier_value as identifier,
        identifier_type,
        identifier_value
    from (
        select message_id, occurred_at, loaded_at, 'anonymous_id' as identifier_type, anonymous_id as identifier_value
        from {{ calls }} where anonymous_id is not null
        union all
        select message_id, occurred_at, loaded_at, 'anonymous_id', previous_id
        from {{ calls }} where previous_id is not null and previous_id is distinct from anonymous_id
        union all
        select message_id, occurred_at, loaded_at, 'user_id', user_id
        from {{ calls }} where user_id is not null
        union all
        select message_id, occurred_at, loaded_at, 'email', email
        from {{ calls }} where email is not null
        union all
        select phone_calls.message_id, phone_calls.occurred_at, phone_calls.loaded_at, 'phone', phone_numbers.phone_e164
        from {{ calls }} as phone_calls
        inner join {{ ref('stg_phone__numbers') }} as phone_numbers
            on phone_numbers.raw_phone = phone_calls.raw_phone
            and phone_numbers.country_code is not distinct from phone_calls.country_code
        where phone_calls.raw_phone is not null and phone_numbers.phone_e164 is not null
    ) as observations
{% endmacro %}
