-- One row per build of the segment log and RFM transition: how many customers moved
-- from one RFM segment to another between two builds (period over period). A customer
-- who entered a segment without leaving one came from `none` (new to RFM); one who left
-- without entering another went to `none` (no order in the RFM window any more).
with changes as (
    select * from {{ ref('segment_changes') }}
    where segment_source = 'rfm'
),

entered as (
    select customer_id, build_number, changed_at, segment
    from changes
    where change_type = 'entered'
),

exited as (
    select customer_id, build_number, changed_at, segment
    from changes
    where change_type = 'exited'
),

moves as (
    select
        coalesce(entered.build_number, exited.build_number) as build_number,
        coalesce(entered.changed_at, exited.changed_at) as changed_at,
        coalesce(exited.segment, 'none') as from_segment,
        coalesce(entered.segment, 'none') as to_segment,
        coalesce(entered.customer_id, exited.customer_id) as customer_id
    from entered
    full outer join exited
        on exited.customer_id = entered.customer_id
        and exited.build_number = entered.build_number
),

final as (
    select
        build_number,
        min(changed_at) as changed_at,
        from_segment,
        to_segment,
        count(*) as customers
    from moves
    group by build_number, from_segment, to_segment
)

select * from final
