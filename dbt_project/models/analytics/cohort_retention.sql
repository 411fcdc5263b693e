-- One row per signup cohort (calendar month of a known customer's first_seen_at, UTC)
-- and month since signup: how many of the cohort had a session in that month.
-- Month 0 is the signup month itself; months after now are not reported.
{%- set now = throughline_now() %}

with customers as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'first_seen_at') }} as date) as cohort_month
    from {{ ref('dim_customers') }}
    where is_known and first_seen_at <= {{ now }}
),

sessions as (
    select distinct
        customer_id,
        cast({{ dbt.date_trunc('month', 'started_at') }} as date) as activity_month
    from {{ ref('fct_sessions') }}
    where started_at <= {{ now }}
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_customers
    from customers
    group by cohort_month
),

activity as (
    select
        customers.cohort_month,
        -- cast: PostgreSQL's datediff of months is NUMERIC
        cast({{ dbt.datediff('customers.cohort_month', 'sessions.activity_month', 'month') }} as {{ dbt.type_bigint() }}) as months_since_signup,
        count(distinct customers.customer_id) as active_customers
    from customers
    inner join sessions on sessions.customer_id = customers.customer_id
    where sessions.activity_month >= customers.cohort_month
    group by 1, 2
),

final as (
    select
        activity.cohort_month,
        activity.months_since_signup,
        cohort_sizes.cohort_customers,
        activity.active_customers,
        cast(activity.active_customers as {{ type_double() }}) / cohort_sizes.cohort_customers as retention_rate
    from activity
    inner join cohort_sizes on cohort_sizes.cohort_month = activity.cohort_month
)

select * from final
