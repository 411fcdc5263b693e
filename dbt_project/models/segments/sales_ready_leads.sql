-- Leads (known, never signed up or bought) whose lead score reached 30: sales should
-- call them. The sales_handoff journey sends them to the CRM.
with customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select customer_id
    from customers
    where lifecycle_stage = 'lead'
      and lead_score >= 30
)

select * from final
