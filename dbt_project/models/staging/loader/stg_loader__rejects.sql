-- Rows `throughline load` refused, so bad input is visible next to the data it spoiled.
with source as (
    select * from {{ source('loader', 'rejects') }}
),

final as (
    select
        reject_id,
        load_id,
        source_file,
        source_line,
        reason_code,
        reason,
        payload,
        rejected_at
    from source
)

select * from final
