-- Consent per channel (email, sms, push): the latest *_consent_given or
-- *_consent_withdrawn event up to now decides, and when it happened is when it changed.
-- No event for a channel means no consent.
with daily_events as (
    select * from {{ ref('int_profiles__customer_daily_events') }}
),

consent_events as (
    select
        customer_id,
        case
            when event_name like 'email_consent_%' then 'email'
            when event_name like 'sms_consent_%' then 'sms'
            when event_name like 'push_consent_%' then 'push'
        end as channel,
        event_name like '%_consent_given' as is_given,
        last_occurred_at
    from daily_events
    where event_name in (
        'email_consent_given', 'email_consent_withdrawn',
        'sms_consent_given', 'sms_consent_withdrawn',
        'push_consent_given', 'push_consent_withdrawn'
    )
),

latest as (
    select *
    from (
        select
            consent_events.*,
            -- a grant and a withdrawal at the same instant: the withdrawal wins
            row_number() over (
                partition by customer_id, channel
                order by last_occurred_at desc, case when is_given then 1 else 0 end
            ) as recency_rank
        from consent_events
    ) as ranked
    where recency_rank = 1
),

final as (
    select
        customer_id,
        coalesce(max(case when channel = 'email' and is_given then 1 end), 0) = 1 as has_email_consent,
        max(case when channel = 'email' then last_occurred_at end) as email_consent_changed_at,
        coalesce(max(case when channel = 'sms' and is_given then 1 end), 0) = 1 as has_sms_consent,
        max(case when channel = 'sms' then last_occurred_at end) as sms_consent_changed_at,
        coalesce(max(case when channel = 'push' and is_given then 1 end), 0) = 1 as has_push_consent,
        max(case when channel = 'push' then last_occurred_at end) as push_consent_changed_at
    from latest
    group by customer_id
)

select * from final
