{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false) }}

-- The log of segment entries and exits: each build compares who is in each segment now
-- with who the log says is in it, and appends an 'entered' or 'exited' row per change,
-- stamped with now and the build's number. A journey can start on 'entered'. History: a
-- --full-refresh keeps it (full_refresh=false).
with members as (
    select * from {{ ref('int_segments__members') }}
),

{% if is_incremental() %}
build as (
    select coalesce(max(build_number), 0) + 1 as build_number from {{ this }}
),

latest_changes as (
    select *
    from (
        select
            changes.*,
            row_number() over (partition by customer_id, segment order by build_number desc) as recency_rank
        from {{ this }} as changes
    ) as ranked
    where recency_rank = 1
),

open_memberships as (
    select customer_id, segment, segment_source
    from latest_changes
    where change_type = 'entered'
),

changes as (
    select members.customer_id, members.segment, members.segment_source, 'entered' as change_type
    from members
    left join open_memberships
        on open_memberships.customer_id = members.customer_id
        and open_memberships.segment = members.segment
    where open_memberships.customer_id is null

    union all

    select open_memberships.customer_id, open_memberships.segment, open_memberships.segment_source, 'exited'
    from open_memberships
    left join members
        on members.customer_id = open_memberships.customer_id
        and members.segment = open_memberships.segment
    where members.customer_id is null
),
{% else %}
build as (
    select 1 as build_number
),

changes as (
    select customer_id, segment, segment_source, 'entered' as change_type
    from members
),
{% endif %}

final as (
    select
        {{ dbt.hash("changes.customer_id || '|' || changes.segment || '|' || cast(build.build_number as " ~ dbt.type_string() ~ ")") }} as segment_change_id,
        changes.customer_id,
        changes.segment,
        changes.segment_source,
        changes.change_type,
        {{ throughline_now() }} as changed_at,
        build.build_number
    from changes
    cross join build
)

select * from final
