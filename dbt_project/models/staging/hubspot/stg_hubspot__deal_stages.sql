{{ config(enabled=var('hubspot_enabled', false)) }}

-- The history of deals' stages: one row per stage a deal entered, the current one active.
with source as (
    select * from {{ source('hubspot', 'deal_stage') }}
),

final as (
    select
        cast(deal_id as {{ dbt.type_string() }}) as deal_id,
        cast(value as {{ dbt.type_string() }}) as stage_id,
        cast(date_entered as {{ dbt.type_timestamp() }}) as entered_at,
        cast(_fivetran_active as boolean) as is_current,
        cast(_fivetran_start as {{ dbt.type_timestamp() }}) as valid_from,
        cast(_fivetran_end as {{ dbt.type_timestamp() }}) as valid_to
    from source
)

select * from final
