-- One row per signup cohort (month of a known customer's first_seen_at, UTC): how many
-- reached first value - a first order or a first subscription, whichever came first -
-- and how long it took (days from first_seen_at). Trialists also get trial-to-paid.
{%- set now = throughline_now() %}

with customers as (
    select
        customer_id,
        first_seen_at,
        trial_started_at,
        first_subscribed_at,
        cast({{ dbt.date_trunc('month', 'first_seen_at') }} as date) as cohort_month,
        case
            when first_ordered_at is null then first_subscribed_at
            when first_subscribed_at is null then first_ordered_at
            when first_ordered_at < first_subscribed_at then first_ordered_at
            else first_subscribed_at
        end as first_value_at
    from {{ ref('dim_customers') }}
    where is_known and first_seen_at <= {{ now }}
),

final as (
    select
        cohort_month,
        count(*) as customers,
        count(first_value_at) as activated,
        cast(count(first_value_at) as {{ type_double() }}) / count(*) as activation_rate,
        -- cast: on PostgreSQL datediff / 86400.0 is NUMERIC, on DuckDB a double
        avg(cast({{ dbt.datediff('first_seen_at', 'first_value_at', 'second') }} as {{ type_double() }}) / 86400) as average_days_to_first_value,
        count(trial_started_at) as trialists,
        sum(case when trial_started_at is not null and first_subscribed_at >= trial_started_at then 1 else 0 end) as trialists_converted
    from customers
    group by cohort_month
)

select * from final
