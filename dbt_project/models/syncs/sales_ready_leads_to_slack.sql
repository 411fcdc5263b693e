-- Each lead who became sales-ready in the last week, as one alert in the sales team's Slack
-- channel (an events sync: every entry is posted once). Names and company only: no email or
-- phone in a chat channel.
with entries as (
    select * from {{ ref('segment_changes') }}
    where segment = 'sales_ready_leads'
      and change_type = 'entered'
      and changed_at > {{ throughline_now() }} - {{ interval_seconds('604800') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select
        entries.segment_change_id,
        'sales_ready_lead' as event_name,
        entries.changed_at as occurred_at,
        'Sales-ready lead' as subject,
        coalesce(nullif(trim(coalesce(customers.first_name, '') || ' ' || coalesce(customers.last_name, '')), ''), 'A lead')
            || case when customers.company is not null then ' at ' || customers.company else '' end
            || ' reached lead score ' || cast(round(customers.lead_score, 1) as {{ dbt.type_string() }})
            || ' (customer ' || customers.customer_id || ').' as text
    from entries
    inner join customers on customers.customer_id = entries.customer_id
)

select * from final
