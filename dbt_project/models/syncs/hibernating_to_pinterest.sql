-- Hibernating customers (RFM) who consented to marketing, as a Pinterest customer list for
-- re-engagement ads. Pinterest takes hashed emails only.
with hibernating as (
    select customer_id from {{ ref('segment_memberships') }}
    where segment = 'rfm_hibernating'
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.customer_id,
        customers.email
    from hibernating
    inner join customers on customers.customer_id = hibernating.customer_id
    where customers.has_email_consent
      and customers.email is not null
)

select * from final
