-- Sales-ready leads (segment sales_ready_leads) as a HubSpot static list, so the sales team
-- sees them where it works; the contact is upserted by email first. The sales_handoff
-- journey's task for each lead is a message sync of its own.
with leads as (
    select customer_id from {{ ref('sales_ready_leads') }}
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
    from leads
    inner join customers on customers.customer_id = leads.customer_id
    where customers.email is not null
)

select * from final
