-- Journey push and in-app messages due now, for Braze: sent through an API-triggered
-- campaign (the braze_campaign_id var) to the customer's external id.
with due as (
    select * from {{ ref('journey_actions_due') }}
    where destination = 'braze'
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        due.action_id,
        due.journey,
        due.step_id,
        due.customer_id,
        due.channel,
        due.destination,
        due.template,
        due.offer,
        due.context,
        due.decided_at,
        customers.email,
        customers.phone,
        due.customer_id as external_id,
        '{{ var("braze_campaign_id", "demo-push-campaign") }}' as campaign_id,
        due.scheduled_at
    from due
    left join customers on customers.customer_id = due.customer_id
)

select * from final
