-- RFM champions as a SendGrid Marketing Campaigns list (contacts are keyed by email).
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
        customers.email,
        customers.first_name,
        customers.last_name
    from champions
    inner join customers on customers.customer_id = champions.customer_id
    where customers.email is not null
)

select * from final
