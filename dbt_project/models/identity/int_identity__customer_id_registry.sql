{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    full_refresh=false,
) }}

-- Every customer id ever built, and what became of it: live, or merged into another
-- customer (an id disappears only when its anchor joined a customer with an earlier
-- anchor). This is state: it remembers ids that earlier runs published, so it is never
-- rebuilt by --full-refresh (full_refresh=false). Only changed rows are written.
with customer_map as (
    select * from {{ ref('int_identity__customer_map') }}
),

live_ids as (
    select customer_id, anchor_identifier
    from customer_map
    where is_anchor
),

{% if is_incremental() %}
known_ids as (
    select * from {{ this }}
),

new_ids as (
    select
        live_ids.customer_id,
        live_ids.anchor_identifier,
        {{ throughline_now() }} as first_built_at,
        cast(null as {{ dbt.type_string() }}) as merged_into_customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as merged_at
    from live_ids
    left join known_ids on known_ids.customer_id = live_ids.customer_id
    -- new, or back to life (its anchor left a customer it had merged into)
    where known_ids.customer_id is null or known_ids.merged_at is not null
),

retired_ids as (
    select
        known_ids.customer_id,
        known_ids.anchor_identifier,
        known_ids.first_built_at,
        anchor_now.customer_id as merged_into_customer_id,
        coalesce(known_ids.merged_at, {{ throughline_now() }}) as merged_at
    from known_ids
    left join live_ids on live_ids.customer_id = known_ids.customer_id
    left join customer_map as anchor_now on anchor_now.identifier = known_ids.anchor_identifier
    where live_ids.customer_id is null
      -- newly retired, or the customer it merged into has since merged on
      and (known_ids.merged_at is null or known_ids.merged_into_customer_id is distinct from anchor_now.customer_id)
),

final as (
    select * from new_ids
    union all
    select * from retired_ids
)
{% else %}
final as (
    select
        customer_id,
        anchor_identifier,
        {{ throughline_now() }} as first_built_at,
        cast(null as {{ dbt.type_string() }}) as merged_into_customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as merged_at
    from live_ids
)
{% endif %}

select * from final
