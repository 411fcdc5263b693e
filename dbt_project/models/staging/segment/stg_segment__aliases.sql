-- One row per alias call: previous_id and user_id are the same person.
with calls as (
    {{ segment_calls('alias') }}
),

final as (
    select
        message_id,
        previous_id,
        user_id,
        anonymous_id,
        occurred_at,
        loaded_at
    from calls
)

select * from final
