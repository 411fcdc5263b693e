-- RFM champions as a Meta custom audience. Meta matches on hashed email, phone and name;
-- the connector normalises and hashes them before anything leaves the machine.
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
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country_code
    from champions
    inner join customers on customers.customer_id = champions.customer_id
    where customers.email is not null or customers.phone is not null
)

select * from final
