-- One row per customer: identity, traits, consent, orders, activity, lead score and
-- lifecycle stage, all as of now (throughline_now()).
--
-- Lifecycle stage, first rule that holds:
--   customer           an active subscription (latest subscription_started/renewed/upgraded
--                      later than any cancel_initiated) or a purchase within
--                      var('lifecycle_churn_after_days') days;
--   churned            paid once (a purchase or a subscription) but not any more;
--   trial              signed up for the trial (signup_completed), never paid;
--   lead               known (a user id, email or phone) but none of the above;
--   anonymous_visitor  only anonymous ids.
-- With Stripe on (docs/sources.md), an active or past-due Stripe subscription is an active
-- subscription too; with HubSpot on, the contact's CRM lifecycle stage, open deals and
-- company (crm_lifecycle_stage, open_deals, crm_company, _domain, _industry: null with no
-- associated company); with any source on, a customer the site never
-- identified takes its email from the source records.
with customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

daily_events as (
    select * from {{ ref('int_profiles__customer_daily_events') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where customer_id is not null
      and ordered_at <= {{ throughline_now() }}
),

sessions as (
    select * from {{ ref('fct_sessions') }}
    where started_at <= {{ throughline_now() }}
),

traits as (
    select * from {{ ref('int_profiles__traits') }}
),

consent as (
    select * from {{ ref('int_profiles__consent') }}
),

lead_scores as (
    select * from {{ ref('int_profiles__lead_scores') }}
),
{%- if var('stripe_enabled', false) %}

stripe_subscriptions as (
    select
        customer_id,
        max(case when is_active then 1 else 0 end) = 1 as has_active_subscription,
        min(started_at) as first_subscribed_at,
        max(canceled_at) as last_cancelled_at
    from {{ ref('fct_subscriptions') }}
    where customer_id is not null
      and started_at <= {{ throughline_now() }}
    group by customer_id
),
{%- endif %}
{%- if var('hubspot_enabled', false) %}

crm_contacts as (
    select
        contact_map.customer_id,
        {{ latest_value('contacts.lifecycle_stage', ['contacts.synced_at', 'contacts.contact_id']) }} as crm_lifecycle_stage,
        count(distinct case when not deals.is_closed then deals.deal_id end) as open_deals,
        -- the company of the latest synced contact that has one (HubSpot's primary company)
        {{ latest_value('companies.company_id', ['contacts.synced_at', 'contacts.contact_id']) }} as crm_company_id
    from {{ ref('stg_hubspot__contacts') }} as contacts
    inner join customer_map as contact_map
        on contact_map.identifier_type = 'platform_customer_id'
        and contact_map.identifier_value = 'hubspot:' || contacts.contact_id
    left join {{ ref('stg_hubspot__deal_contacts') }} as deal_contacts on deal_contacts.contact_id = contacts.contact_id
    left join {{ ref('stg_hubspot__deals') }} as deals on deals.deal_id = deal_contacts.deal_id
    left join {{ ref('stg_hubspot__companies') }} as companies on companies.company_id = contacts.company_id
    group by contact_map.customer_id
),
{%- endif %}
{%- if loaded_sources() %}

source_emails as (
    select
        record_map.customer_id,
        {{ latest_value('records.email', ['records.synced_at', 'records.record_table', 'records.record_id']) }} as email
    from {{ ref('int_identity__source_records') }} as records
    inner join customer_map as record_map
        on record_map.identifier_type = 'email' and record_map.identifier_value = records.email
    group by record_map.customer_id
),
{%- endif %}

identities as (
    select
        customer_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as identifiers,
        sum(case when identifier_type = 'anonymous_id' then 1 else 0 end) as anonymous_ids,
        sum(case when identifier_type <> 'anonymous_id' then 1 else 0 end) as known_identifiers
    from customer_map
    group by customer_id
),

order_totals as (
    select
        customer_id,
        count(*) as orders,
        sum(revenue_usd) as revenue_usd,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from orders
    group by customer_id
),

session_counts as (
    select
        customer_id,
        {{ latest_value('timezone', ['started_at', 'session_id']) }} as session_timezone,
        max(started_at) as last_session_at,
        sum(case when started_at > {{ dbt.dateadd('day', -7, throughline_now()) }} then 1 else 0 end) as sessions_last_7_days,
        sum(case when started_at > {{ dbt.dateadd('day', -30, throughline_now()) }} then 1 else 0 end) as sessions_last_30_days
    from sessions
    group by customer_id
),

saas_milestones as (
    select
        customer_id,
        min(case when event_name = 'signup_completed' then first_occurred_at end) as trial_started_at,
        max(case when event_name in ('subscription_started', 'subscription_renewed', 'subscription_upgraded') then last_occurred_at end) as last_subscription_activity_at,
        min(case when event_name = 'subscription_started' then first_occurred_at end) as first_subscribed_at,
        max(case when event_name = 'cancel_initiated' then last_occurred_at end) as last_cancelled_at
    from daily_events
    where event_name in ('signup_completed', 'subscription_started', 'subscription_renewed', 'subscription_upgraded', 'cancel_initiated')
    group by customer_id
),

joined as (
    select
        identities.customer_id,
        {%- if loaded_sources() %}
        coalesce(traits.email, source_emails.email) as email,
        {%- else %}
        traits.email,
        {%- endif %}
        traits.phone,
        traits.first_name,
        traits.last_name,
        traits.company,
        traits.country_code,
        -- the zone of the latest session, or of the latest identify if that came later
        case
            when session_counts.last_session_at >= coalesce(traits.last_identified_at, session_counts.last_session_at)
                then coalesce(session_counts.session_timezone, traits.identify_timezone)
            else coalesce(traits.identify_timezone, session_counts.session_timezone)
        end as timezone,
        identities.first_seen_at,
        identities.last_seen_at,
        identities.identifiers,
        identities.known_identifiers > 0 as is_known,
        coalesce(consent.has_email_consent, false) as has_email_consent,
        consent.email_consent_changed_at,
        coalesce(consent.has_sms_consent, false) as has_sms_consent,
        consent.sms_consent_changed_at,
        coalesce(consent.has_push_consent, false) as has_push_consent,
        consent.push_consent_changed_at,
        coalesce(order_totals.orders, 0) as orders,
        coalesce(order_totals.revenue_usd, 0) as revenue_usd,
        order_totals.first_ordered_at,
        order_totals.last_ordered_at,
        saas_milestones.trial_started_at,
        {%- if var('stripe_enabled', false) %}
        -- the earlier start and the later cancellation of Segment's and Stripe's (least and
        -- greatest are null with a null on one engine, not on the other)
        coalesce(least(saas_milestones.first_subscribed_at, stripe_subscriptions.first_subscribed_at),
                 saas_milestones.first_subscribed_at, stripe_subscriptions.first_subscribed_at) as first_subscribed_at,
        coalesce(greatest(saas_milestones.last_cancelled_at, stripe_subscriptions.last_cancelled_at),
                 saas_milestones.last_cancelled_at, stripe_subscriptions.last_cancelled_at) as last_cancelled_at,
        coalesce(stripe_subscriptions.has_active_subscription, false)
            or coalesce(saas_milestones.last_subscription_activity_at is not null
                and (saas_milestones.last_cancelled_at is null
                     or saas_milestones.last_subscription_activity_at > saas_milestones.last_cancelled_at), false) as has_active_subscription,
        {%- else %}
        saas_milestones.first_subscribed_at,
        saas_milestones.last_cancelled_at,
        saas_milestones.last_subscription_activity_at is not null
            and (saas_milestones.last_cancelled_at is null
                 or saas_milestones.last_subscription_activity_at > saas_milestones.last_cancelled_at) as has_active_subscription,
        {%- endif %}
        {%- if var('hubspot_enabled', false) %}
        crm_contacts.crm_lifecycle_stage,
        coalesce(crm_contacts.open_deals, 0) as open_deals,
        crm_companies.company_name as crm_company,
        crm_companies.domain as crm_company_domain,
        crm_companies.industry as crm_company_industry,
        {%- endif %}
        coalesce(session_counts.sessions_last_7_days, 0) as sessions_last_7_days,
        coalesce(session_counts.sessions_last_30_days, 0) as sessions_last_30_days,
        coalesce(lead_scores.lead_score, 0) as lead_score
    from identities
    left join traits on traits.customer_id = identities.customer_id
    left join consent on consent.customer_id = identities.customer_id
    left join order_totals on order_totals.customer_id = identities.customer_id
    left join saas_milestones on saas_milestones.customer_id = identities.customer_id
    left join session_counts on session_counts.customer_id = identities.customer_id
    left join lead_scores on lead_scores.customer_id = identities.customer_id
    {%- if var('stripe_enabled', false) %}
    left join stripe_subscriptions on stripe_subscriptions.customer_id = identities.customer_id
    {%- endif %}
    {%- if var('hubspot_enabled', false) %}
    left join crm_contacts on crm_contacts.customer_id = identities.customer_id
    left join {{ ref('stg_hubspot__companies') }} as crm_companies on crm_companies.company_id = crm_contacts.crm_company_id
    {%- endif %}
    {%- if loaded_sources() %}
    left join source_emails on source_emails.customer_id = identities.customer_id
    {%- endif %}
),

final as (
    select
        customer_id,
        email,
        phone,
        first_name,
        last_name,
        company,
        country_code,
        timezone,
        first_seen_at,
        last_seen_at,
        case
            when has_active_subscription
                or last_ordered_at > {{ dbt.dateadd('day', -1 * var('lifecycle_churn_after_days'), throughline_now()) }}
                then 'customer'
            when orders > 0 or first_subscribed_at is not null then 'churned'
            when trial_started_at is not null then 'trial'
            when is_known then 'lead'
            else 'anonymous_visitor'
        end as lifecycle_stage,
        is_known,
        has_active_subscription,
        trial_started_at,
        first_subscribed_at,
        has_email_consent,
        email_consent_changed_at,
        has_sms_consent,
        sms_consent_changed_at,
        has_push_consent,
        push_consent_changed_at,
        orders,
        revenue_usd,
        case when orders > 0 then cast(revenue_usd / orders as {{ dbt.type_numeric() }}) end as average_order_value_usd,
        first_ordered_at,
        last_ordered_at,
        {{ dbt.datediff('last_ordered_at', throughline_now(), 'day') }} as days_since_last_purchase,
        sessions_last_7_days,
        sessions_last_30_days,
        lead_score,
        {%- if var('hubspot_enabled', false) %}
        crm_lifecycle_stage,
        open_deals,
        crm_company,
        crm_company_domain,
        crm_company_industry,
        {%- endif %}
        identifiers
    from joined
)

select * from final
