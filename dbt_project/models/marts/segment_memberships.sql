-- Current segment members and when they entered (their latest 'entered' in segment_changes).
with members as (
    select * from {{ ref('int_segments__members') }}
),

changes as (
    select * from {{ ref('segment_changes') }}
),

entries as (
    select customer_id, segment, max(changed_at) as entered_at
    from changes
    where change_type = 'entered'
    group by customer_id, segment
),

final as (
    select
        members.customer_id,
        members.segment,
        members.segment_source,
        entries.entered_at
    from members
    left join entries
        on entries.customer_id = members.customer_id
        and entries.segment = members.segment
)

select * from final
