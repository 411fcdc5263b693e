{#- The Segment calls of one type, one row per message_id. The loader already keeps one
    row per message_id, but other writers of raw tables (a CDP's own warehouse sync, a
    backfill) may not, so staging never trusts it. -#}
{% macro segment_calls(call_type) %}
    select *
    from (
        select
            *,
            row_number() over (partition by message_id order by loaded_at, source_line) as copy_number
        from {{ source('segment', 'events') }}
        where type = '{{ call_type }}'
    ) as calls
    where copy_number = 1
{% endmacro %}
