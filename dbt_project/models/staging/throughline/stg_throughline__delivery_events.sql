-- Delivery reports from destinations, one row per provider event.
with events as (
    select
        *,
        row_number() over (partition by provider, event_id order by occurred_at) as copy_number
    from {{ source('throughline', 'delivery_events') }}
),

final as (
    select
        provider,
        event_id,
        event_type,
        channel,
        lower(trim(address)) as address,
        action_id,
        customer_id,
        occurred_at
    from events
    where copy_number = 1
)

select * from final
