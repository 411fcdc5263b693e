-- Each customer's traits, latest value wins per trait: a later identify that sends only
-- an email does not erase the name an earlier one sent. Also the primary email (latest
-- normalised email that links people) and primary phone (latest valid number that links
-- people), and the time zone and time of the latest identify (dim_customers prefers the
-- zone of a later session). Calls after now don't count; ties on time go to the larger
-- message id.
with calls as (
    select * from {{ ref('int_profiles__identifies') }}
    where occurred_at <= {{ throughline_now() }}
),

customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

phone_numbers as (
    select * from {{ ref('stg_phone__numbers') }}
),

identifies as (
    -- an identify belongs to the customer of its user id, else of its device, else of its email
    select
        calls.*,
        coalesce(by_user.customer_id, by_device.customer_id, by_email.customer_id) as customer_id
    from calls
    left join customer_map as by_user
        on by_user.identifier_type = 'user_id' and by_user.identifier_value = calls.user_id
    left join customer_map as by_device
        on by_device.identifier_type = 'anonymous_id' and by_device.identifier_value = calls.anonymous_id
    left join customer_map as by_email
        on by_email.identifier_type = 'email' and by_email.identifier_value = calls.email
),

identify_traits as (
    select
        identifies.customer_id,
        identifies.occurred_at,
        identifies.message_id,
        nullif({{ json_text('identifies.traits', 'first_name') }}, '') as first_name,
        nullif({{ json_text('identifies.traits', 'last_name') }}, '') as last_name,
        nullif({{ json_text('identifies.traits', 'company') }}, '') as company,
        nullif(identifies.country_code, '') as country_code,
        nullif(identifies.timezone, '') as timezone,
        -- only emails and phones that link people: not test@test.com, not 0000000000
        linked_emails.identifier_value as email,
        linked_phones.identifier_value as phone
    from identifies
    left join customer_map as linked_emails
        on linked_emails.identifier_type = 'email'
        and linked_emails.identifier_value = identifies.email
        and linked_emails.customer_id = identifies.customer_id
    left join phone_numbers
        on phone_numbers.raw_phone = identifies.raw_phone
        and phone_numbers.country_code is not distinct from identifies.country_code
        and phone_numbers.is_valid
    left join customer_map as linked_phones
        on linked_phones.identifier_type = 'phone'
        and linked_phones.identifier_value = phone_numbers.phone_e164
        and linked_phones.customer_id = identifies.customer_id
    where identifies.customer_id is not null
),

latest_traits as (
    select
        customer_id,
        {{ latest_value('email', ['occurred_at', 'message_id']) }} as email,
        {{ latest_value('phone', ['occurred_at', 'message_id']) }} as phone,
        {{ latest_value('first_name', ['occurred_at', 'message_id']) }} as first_name,
        {{ latest_value('last_name', ['occurred_at', 'message_id']) }} as last_name,
        {{ latest_value('company', ['occurred_at', 'message_id']) }} as company,
        {{ latest_value('country_code', ['occurred_at', 'message_id']) }} as country_code,
        {{ latest_value('timezone', ['occurred_at', 'message_id']) }} as identify_timezone,
        max(occurred_at) as last_identified_at
    from identify_traits
    group by customer_id
),

final as (
    select * from latest_traits
)

select * from final
