-- What to send now: the due decisions, with what the sync layer needs to render and
-- deliver them. action_id is deterministic (journey, customer, instance, step), so a
-- retried tick proposes the same ids and the ledger keeps each one to a single send.
-- A view: always exactly the due rows of journey_decisions, with nothing to rebuild.
{{ config(materialized='view') }}

with decisions as (
    select * from {{ ref('journey_decisions') }}
    where status = 'due'
),

final as (
    select
        action_id,
        journey,
        step_id,
        instance_id,
        customer_id,
        channel,
        destination,
        template,
        variant,
        offer,
        scheduled_at,
        entry_properties as context,
        journey_priority,
        decided_at
    from decisions
)

select * from final
