-- Journey webhooks due now (sales hand-offs to a CRM): the rendered body travels as a record field.
with due as (
    select * from {{ ref('journey_actions_due') }}
    where destination = 'webhook'
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
        due.scheduled_at
    from due
    left join customers on customers.customer_id = due.customer_id
)

select * from final
