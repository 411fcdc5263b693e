-- RFM champions who gave email consent, mirrored into a Mailchimp segment (or tag) of the
-- audience. Their status comes from that consent: Mailchimp applies it to new members only
-- (an audience sync never changes an existing member's status, connectors/destinations/mailchimp.py).
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
        customers.last_name,
        cast('subscribed' as {{ dbt.type_string() }}) as status
    from champions
    inner join customers on customers.customer_id = champions.customer_id
    where customers.email is not null
      and customers.has_email_consent
)

select * from final
