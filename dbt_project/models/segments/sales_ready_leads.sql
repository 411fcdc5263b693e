-- Leads (known, never signed up or bought) whose lead score reached 30: sales should
-- call them. The sales_handoff journey sends them to the CRM. With HubSpot on
-- (docs/sources.md), not a contact of an open deal: sales is already talking to them.
with customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select customer_id
    from customers
    where lifecycle_stage = 'lead'
      and lead_score >= 30
      {%- if var('hubspot_enabled', false) %}
      and open_deals = 0
      {%- endif %}
)

select * from final
