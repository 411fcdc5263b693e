{{ config(
    materialized='incremental',
    incremental_strategy='changed_rows',
    unique_key='action_id',
    compare_excluding=['decided_at', 'computed_at'],
) }}

-- Every candidate action at now with its outcome and why: due (to send now), deferred
-- until a time, suppressed (with a machine-readable reason_code and a sentence), or
-- already handled by the sync layer (sent, in_flight, failed, unknown).
--
-- Each journey decides locally (exits, holdout, conditions, consent, quiet hours); this
-- model then applies what spans journeys, in order:
--   1. collisions: a customer in a higher-priority journey of the same collision group
--      gets nothing from a lower-priority one within the collision window;
--   2. duplicate offers: one offer reaches a customer once per collision window, on one
--      channel, whichever journey and channel would send it;
--   3. frequency caps: per channel and overall over rolling windows, counting what the
--      ledger says was sent by every journey, then the due actions by priority.
--
-- Incremental, like the journey models: a run decides again the actions of each customer
-- in each journey that re-decided them since (which includes everyone with a message due,
-- so caps and duplicate offers are always judged at now), and those customers' deferred
-- actions in their other journeys, which a collision can still change. Every other
-- action is settled in its journey (sent, suppressed, in flight...), and no policy that
-- spans journeys changes a settled action: its decision stands.
--
-- The policies read only the open actions (due or deferred), and only the columns they
-- need; every other column joins back once at the end. Carrying every action's every
-- column through them made a 1M-customer full build materialise and spill them three
-- times over.
{%- set now = throughline_now() %}

{#- A full build reads the candidates twice (open actions, then the outcomes) straight
    from the journey tables: stored in between, every action with every column spilled. #}
with candidates as {% if is_incremental() %}{{ materialized_cte() }}{% else %}{{ inlined_cte() }}{% endif %} (
{%- if is_incremental() %}
    select * from ({{ redecided_rows() }}) as redecided
    where row_kind = 'action'

    union all

    select other_journeys.*
    from {{ ref('journey_candidates') }} as other_journeys
    where other_journeys.row_kind = 'action'
      and other_journeys.status in ('due', 'deferred')
      and other_journeys.computed_at <= {{ incremental_watermark('computed_at') }}
      and other_journeys.customer_id in ({{ redecided_customers() }})
{%- else %}
    select * from {{ ref('journey_candidates') }}
    where row_kind = 'action'
{%- endif %}
),

instances as (
    select * from {{ ref('journey_instances') }}
),

ledger as (
    select * from {{ ref('stg_throughline__delivery_ledger') }}
    where status in ('sent', 'pending', 'unknown')
      and coalesce(sent_at, recorded_at) <= {{ now }}
),

caps as (
    select * from {{ ref('journey_frequency_caps') }}
),

groups as (
    select * from {{ ref('journey_collision_groups') }}
),

open_actions as {{ materialized_cte() }} (
    select
        action_id, journey, customer_id, channel, offer, scheduled_at, journey_priority,
        collision_window_seconds, status, reason_code, reason
    from candidates
    where status in ('due', 'deferred')
),

colliding as (
    -- The highest-priority other journey, sharing a collision group, that the customer
    -- is in (or left within the window) when this action is due. Control customers of
    -- that journey don't count: for them it is as if it did not exist.
    select action_id, journey as colliding_journey
    from (
        select
            open_actions.action_id,
            other.journey,
            row_number() over (partition by open_actions.action_id order by other.journey_priority desc, other.journey) as collision_rank
        from open_actions
        inner join groups as own_group on own_group.journey = open_actions.journey
        inner join groups as other_group
            on other_group.collision_group = own_group.collision_group
            and other_group.journey_priority > own_group.journey_priority
        inner join instances as other
            on other.journey = other_group.journey
            and other.customer_id = open_actions.customer_id
            and other.arm = 'treatment'
            and other.entered_at <= open_actions.scheduled_at
            and coalesce(other.exited_at, other.completed_at, {{ far_future() }})
                >= open_actions.scheduled_at - {{ interval_seconds('1') }} * open_actions.collision_window_seconds
    ) as ranked
    where collision_rank = 1
),

after_collisions as (
    select
        open_actions.*,
        case when colliding.action_id is not null then 'suppressed' else open_actions.status end as policy_status,
        case when colliding.action_id is not null then 'collision' else open_actions.reason_code end as policy_reason_code,
        case
            when colliding.action_id is not null
                then 'Not sent: the customer is in the higher-priority journey ' || colliding.colliding_journey || '.'
            else open_actions.reason
        end as policy_reason
    from open_actions
    left join colliding on colliding.action_id = open_actions.action_id
),

offer_already_sent as (
    select distinct due.action_id
    from after_collisions as due
    inner join ledger
        on ledger.customer_id = due.customer_id
        and ledger.offer = due.offer
        and coalesce(ledger.sent_at, ledger.recorded_at) > {{ now }} - {{ interval_seconds('1') }} * due.collision_window_seconds
    where due.policy_status = 'due' and due.offer is not null
),

offer_ranked as (
    -- the due actions carrying an offer, ranked per customer and offer
    select
        action_id,
        row_number() over (partition by customer_id, offer order by journey_priority desc, scheduled_at, action_id) as offer_rank
    from after_collisions
    where policy_status = 'due' and offer is not null
),

after_offers as (
    select
        after_collisions.*,
        case
            when policy_status = 'due' and (offer_already_sent.action_id is not null or offer_rank > 1) then 'suppressed'
            else policy_status
        end as offer_status,
        case
            when policy_status = 'due' and (offer_already_sent.action_id is not null or offer_rank > 1) then 'duplicate_offer'
            else policy_reason_code
        end as offer_reason_code,
        case
            when policy_status = 'due' and (offer_already_sent.action_id is not null or offer_rank > 1)
                then 'Not sent: the offer ' || offer || ' already reached or is reaching this customer.'
            else policy_reason
        end as offer_reason
    from after_collisions
    left join offer_ranked on offer_ranked.action_id = after_collisions.action_id
    left join offer_already_sent on offer_already_sent.action_id = after_collisions.action_id
),

due_ranked as (
    select
        after_offers.*,
        row_number() over (partition by customer_id, channel order by journey_priority desc, scheduled_at, action_id) as channel_rank,
        row_number() over (partition by customer_id order by journey_priority desc, scheduled_at, action_id) as overall_rank
    from after_offers
    where offer_status = 'due'
),

cap_usage as (
    -- For each due action and cap that covers it: messages already sent in the window,
    -- plus the due actions ranked before it.
    select
        due_ranked.action_id,
        caps.channel as cap_channel,
        caps.max_messages,
        caps.window_seconds,
        case when caps.channel = 'all' then due_ranked.overall_rank else due_ranked.channel_rank end
            + (
                select count(*)
                from ledger
                where ledger.customer_id = due_ranked.customer_id
                  and (caps.channel = 'all' or ledger.channel = caps.channel)
                  and coalesce(ledger.sent_at, ledger.recorded_at) > {{ now }} - {{ interval_seconds('1') }} * caps.window_seconds
            ) as messages_with_this
    from due_ranked
    inner join caps on caps.channel = 'all' or caps.channel = due_ranked.channel
),

capped as (
    select action_id, cap_channel, max_messages, window_seconds
    from (
        select
            cap_usage.*,
            row_number() over (partition by action_id order by window_seconds desc, cap_channel) as cap_rank
        from cap_usage
        where messages_with_this > max_messages
    ) as exceeded
    where cap_rank = 1
),

decided as (
    -- the open actions' outcomes after every policy
    select
        after_offers.action_id,
        case when capped.action_id is not null then 'suppressed' else after_offers.offer_status end as status,
        case when capped.action_id is not null then 'frequency_cap' else after_offers.offer_reason_code end as reason_code,
        case
            when capped.action_id is not null
                then 'Not sent: frequency cap of ' || cast(capped.max_messages as {{ dbt.type_string() }}) || ' '
                    || case when capped.cap_channel = 'all' then 'messages' else capped.cap_channel || ' messages' end
                    || ' per ' || cast(capped.window_seconds / 3600 as {{ dbt.type_string() }}) || ' hours reached.'
            else after_offers.offer_reason
        end as reason
    from after_offers
    left join capped on capped.action_id = after_offers.action_id
),

outcomes as (
    select
        candidates.*,
        case when decided.action_id is not null then decided.status else candidates.status end as decided_status,
        case when decided.action_id is not null then decided.reason_code else candidates.reason_code end as decided_reason_code,
        case when decided.action_id is not null then decided.reason else candidates.reason end as decided_reason
    from candidates
    left join decided on decided.action_id = candidates.action_id
),

final as (
    select
        action_id,
        journey,
        step_id,
        step_index,
        instance_id,
        customer_id,
        arm,
        channel,
        destination,
        template,
        variant,
        offer,
        scheduled_at,
        case when decided_status = 'deferred' then release_at end as deferred_until,
        decided_status as status,
        decided_reason_code as reason_code,
        decided_reason as reason,
        journey_priority,
        entered_at,
        entry_properties,
        {{ now }} as decided_at,
        {{ run_started_timestamp() }} as computed_at
    from outcomes
)

select * from final
