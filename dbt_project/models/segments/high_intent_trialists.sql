-- An example SQL segment: trialists with a lead score of 20 or more who visited in the
-- last 7 days. A segment model returns one customer_id per member; its name is the
-- segment's name. Add yours here and list it in var('sql_segments') in dbt_project.yml.
with customers as (
    select * from {{ ref('dim_customers') }}
),

final as (
    select customer_id
    from customers
    where lifecycle_stage = 'trial'
      and lead_score >= 20
      and sessions_last_7_days > 0
)

select * from final
