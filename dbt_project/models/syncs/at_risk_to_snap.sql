-- Customers slipping away (RFM at risk or can't lose them) who consented to marketing, as a
-- Snap Audience Match segment for win-back ads. The warehouse hashes the identifiers by Snap's
-- rules before they reach Python (pii.sql_prehash); the connector hashes any others.
with slipping as (
    select distinct customer_id from {{ ref('segment_memberships') }}
    where segment in ('rfm_at_risk', 'rfm_cant_lose_them')
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.customer_id,
        customers.email,
        customers.phone
    from slipping
    inner join customers on customers.customer_id = slipping.customer_id
    where customers.has_email_consent
      and (customers.email is not null or customers.phone is not null)
)

select * from final
