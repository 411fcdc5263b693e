-- High-intent trialists who consented to email, subscribed to an ActiveCampaign list, where the
-- lifecycle team's own automations pick them up. The contact is found or created by email first.
with trialists as (
    select customer_id from {{ ref('high_intent_trialists') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.phone
    from trialists
    inner join customers on customers.customer_id = trialists.customer_id
    where customers.has_email_consent
      and customers.email is not null
)

select * from final
