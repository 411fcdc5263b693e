-- RFM champions who consented to marketing, as a TikTok custom audience (a customer file of
-- hashed emails): the seed of a lookalike audience.
with champions as (
    select customer_id from {{ ref('segment_memberships') }}
    where segment = 'rfm_champions'
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        customers.customer_id,
        customers.email
    from champions
    inner join customers on customers.customer_id = champions.customer_id
    where customers.has_email_consent
      and customers.email is not null
)

select * from final
