-- High-intent trialists (segment high_intent_trialists) as a LinkedIn DMP segment, for B2B ads
-- to the people evaluating the product at their company. LinkedIn matches hashed emails.
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
        customers.last_name
    from trialists
    inner join customers on customers.customer_id = trialists.customer_id
    where customers.has_email_consent
      and customers.email is not null
)

select * from final
