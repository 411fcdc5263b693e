-- Who is in which segment now: the RFM segment of every scored customer ('rfm_<key>'),
-- and every SQL segment in models/segments/ (listed in var('sql_segments')), named after
-- its model. A segment model returns one customer_id per member.
with rfm as (
    select * from {{ ref('customer_rfm') }}
),

members as (
    select customer_id, 'rfm_' || segment_key as segment, 'rfm' as segment_source
    from rfm
    where segment_key is not null
    {%- for segment in var('sql_segments') %}

    union all

    select customer_id, '{{ segment }}', 'sql'
    from {{ ref(segment) }}
    {%- endfor %}
),

final as (
    select distinct customer_id, segment, segment_source
    from members
    where customer_id is not null
)

select * from final
