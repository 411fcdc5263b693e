{{ config(enabled=var('hubspot_enabled', false)) }}

-- One row per stage of a deal pipeline, deleted ones left out.
with source as (
    select * from {{ source('hubspot', 'deal_pipeline_stage') }}
    where not coalesce(cast(_fivetran_deleted as boolean), false)
),

final as (
    select
        cast(stage_id as {{ dbt.type_string() }}) as stage_id,
        cast(pipeline_id as {{ dbt.type_string() }}) as pipeline_id,
        cast(label as {{ dbt.type_string() }}) as stage_label,
        cast(display_order as {{ dbt.type_int() }}) as display_order,
        cast(probability as {{ dbt.type_numeric() }}) as probability,
        cast(is_closed as boolean) as is_closed,
        cast(closed_won as boolean) as is_closed_won,
        cast(active as boolean) as is_active
    from source
)

select * from final
