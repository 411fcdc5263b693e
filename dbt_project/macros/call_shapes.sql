{#- The identifier columns of a call shape, each with the type it is written under:
    an alias's previous id is a device id, so it is an anonymous id too. With a landed
    source on (docs/sources.md), its records add their platform customer ids. -#}
{% macro identifier_columns() %}
    {% set columns = [
        ('anonymous_id', 'anonymous_id'),
        ('previous_id', 'anonymous_id'),
        ('user_id', 'user_id'),
        ('email', 'email'),
        ('phone', 'phone'),
    ] %}
    {% if loaded_sources() %}{% do columns.append(('platform_customer_id', 'platform_customer_id')) %}{% endif %}
    {{ return(columns) }}
{% endmacro %}


{#- The new calls of an identity model: int_identity__calls loaded since the model's
    watermark, and with a landed source on, the source records loaded since (the same
    columns, a platform customer id added). -#}
{% macro identity_calls_since(watermark_column) %}
    {% if loaded_sources() %}
    select
        anonymous_id, previous_id, user_id, email, raw_phone, country_code, occurred_at, loaded_at,
        cast(null as {{ dbt.type_string() }}) as platform_customer_id
    from {{ ref('int_identity__calls') }}
    {{ loaded_after_watermark('loaded_at', watermark_column) }}
    union all
    select
        cast(null as {{ dbt.type_string() }}) as anonymous_id,
        cast(null as {{ dbt.type_string() }}) as previous_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        email, raw_phone, country_code, occurred_at, loaded_at, platform_customer_id
    from {{ ref('int_identity__source_records') }}
    {{ loaded_after_watermark('loaded_at', watermark_column) }}
    {% else %}
    select * from {{ ref('int_identity__calls') }}
    {{ loaded_after_watermark('loaded_at', watermark_column) }}
    {% endif %}
{% endmacro %}


{#- The calls of a relation of int_identity__calls rows grouped by the identifiers they
    carry, one row per shape: anonymous id, alias previous id (left out where it is the
    anonymous id), user id, normalised email and the E.164 phone from the phone lookup,
    with when its calls were first and last seen and loaded, and how many there are.
    Most calls are a device's tracks and pages carrying the same ids, so a full build's
    ~50 million calls at 1M customers come down to ~3 million shapes before anything
    is unpivoted or paired. -#}
{% macro call_shapes(calls) %}
    select
        shapes.anonymous_id,
        shapes.previous_id,
        shapes.user_id,
        shapes.email,
        phone_numbers.phone_e164 as phone,
        {%- if loaded_sources() %}
        shapes.platform_customer_id,
        {%- endif %}
        shapes.first_seen_at,
        shapes.last_seen_at,
        shapes.first_loaded_at,
        shapes.last_loaded_at,
        shapes.calls
    from (
        select
            anonymous_id,
            case when previous_id is distinct from anonymous_id then previous_id end as previous_id,
            user_id,
            email,
            raw_phone,
            country_code,
            {%- if loaded_sources() %}
            platform_customer_id,
            {%- endif %}
            min(occurred_at) as first_seen_at,
            max(occurred_at) as last_seen_at,
            min(loaded_at) as first_loaded_at,
            max(loaded_at) as last_loaded_at,
            count(*) as calls
        from {{ calls }}
        group by 1, 2, 3, 4, 5, 6{% if loaded_sources() %}, 7{% endif %}
    ) as shapes
    left join {{ ref('stg_phone__numbers') }} as phone_numbers
        on phone_numbers.raw_phone = shapes.raw_phone
        and phone_numbers.country_code is not distinct from shapes.country_code
{% endmacro %}


{#- Every identifier of a relation of call shapes, one row per (shape, identifier). An
    identifier is written '<type>:<value>' (user_id:usr_1a2b3c4d, email:ana@example.com)
    so the graph works on one column. -#}
{% macro shape_identifiers(shapes) %}
    {% for column, identifier_type in identifier_columns() %}
    select
        '{{ identifier_type }}:' || {{ column }} as identifier,
        '{{ identifier_type }}' as identifier_type,
        {{ column }} as identifier_value,
        first_seen_at,
        last_seen_at,
        first_loaded_at,
        last_loaded_at,
        calls
    from {{ shapes }}
    where {{ column }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
{% endmacro %}


{#- Every pair of identifiers a call shape carries, one row per (shape, pair), the lesser
    identifier first. Pairs come from the shape's columns, not from joining its
    identifiers to themselves. -#}
{% macro shape_identifier_pairs(shapes) %}
    {% set columns = identifier_columns() %}
    {% set pairs = [] %}
    {% for one in columns %}{% for other in columns[loop.index:] %}{% do pairs.append((one, other)) %}{% endfor %}{% endfor %}
    select
        least(one_identifier, other_identifier) as identifier_a,
        greatest(one_identifier, other_identifier) as identifier_b,
        first_seen_at,
        first_loaded_at,
        last_loaded_at,
        calls
    from (
        {% for one, other in pairs %}
        select
            '{{ one[1] }}:' || {{ one[0] }} as one_identifier,
            '{{ other[1] }}:' || {{ other[0] }} as other_identifier,
            first_seen_at,
            first_loaded_at,
            last_loaded_at,
            calls
        from {{ shapes }}
        where {{ one[0] }} is not null and {{ other[0] }} is not null
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    ) as pairs
{% endmacro %}
