{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per HubSpot deal not deleted, with its current pipeline stage and whether that
-- stage is closed (won or lost): a deal in no known stage counts as open.
with deals as (
    select * from {{ source('hubspot', 'deal') }}
    where not coalesce(cast(is_deleted as boolean), false)
),

stages as (
    select * from {{ ref('stg_hubspot__deal_pipeline_stages') }}
),

final as (
    select
        cast(deals.deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(deals.deal_pipeline_id as {{ dbt.type_string() }}) as pipeline_id,
        cast(deals.deal_pipeline_stage_id as {{ dbt.type_string() }}) as stage_id,
        stages.stage_label,
        coalesce(stages.is_closed, false) as is_closed,
        coalesce(stages.is_closed_won, false) as is_closed_won,
        cast(deals.property_dealname as {{ dbt.type_string() }}) as deal_name,
        cast(deals.property_amount as {{ dbt.type_numeric() }}) as amount,
        cast(deals.property_closedate as {{ dbt.type_timestamp() }}) as closes_at,
        cast(deals.property_createdate as {{ dbt.type_timestamp() }}) as created_at
    from deals
    left join stages on stages.stage_id = cast(deals.deal_pipeline_stage_id as {{ dbt.type_string() }})
)

select * from final
