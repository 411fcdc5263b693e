-- The delivery ledger, one row per action (the latest write wins).
with ledger as (
    select
        *,
        row_number() over (partition by action_id order by recorded_at desc) as write_rank
    from {{ source('throughline', 'delivery_ledger') }}
),

final as (
    select
        action_id,
        status,
        sent_at,
        destination,
        provider_message_id,
        error,
        journey,
        step_id,
        customer_id,
        channel,
        offer,
        recorded_at
    from ledger
    where write_rank = 1
)

select * from final
