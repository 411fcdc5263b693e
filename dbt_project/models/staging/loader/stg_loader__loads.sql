-- One row per file per load with its counts.
with source as (
    select * from {{ source('loader', 'loads') }}
),

final as (
    select
        load_id,
        source_file,
        started_at,
        finished_at,
        rows_read,
        rows_loaded,
        rows_duplicate,
        rows_rejected
    from source
)

select * from final
