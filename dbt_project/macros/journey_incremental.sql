{#- What a journey model's last run left behind, read before it runs again, as
    {incremental, rebuild, as_of, events_loaded_through} - the last two as timestamp
    literals (constants let the engine skip old storage blocks).
    incremental: re-decide only the customers that changed (journey_model.sql.j2);
    rebuild: the table exists but was decided under another definition, or for a later
    `now` than this run's - re-decide everyone and replace every row. -#}
{% macro journey_previous_run(definition_hash) -%}
    {%- set state = {'incremental': false, 'rebuild': false, 'as_of': none, 'events_loaded_through': none} -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query(
            "select max(as_of), max(events_loaded_through),"
            ~ " count(case when definition_hash <> '" ~ definition_hash ~ "' then 1 end),"
            ~ " coalesce(max(as_of) <= " ~ throughline_now() ~ ", false)"
            ~ " from " ~ this) -%}
        {%- set as_of, loaded_through, other_definitions, time_moved_on = result.rows[0] -%}
        {%- if as_of is none or other_definitions > 0 or not time_moved_on -%}
            {%- do state.update({'rebuild': true}) -%}
        {%- else -%}
            {%- do state.update({
                'incremental': true,
                'as_of': "cast('" ~ as_of ~ "' as " ~ dbt.type_timestamp() ~ ")",
                'events_loaded_through': "cast('" ~ (loaded_through or '1900-01-01 00:00:00') ~ "' as " ~ dbt.type_timestamp() ~ ")",
            }) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(state) }}
{%- endmacro %}
