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

{#- When this dbt invocation started (UTC): journey rows carry it as computed_at, so a
    model downstream of them can tell which customers were re-decided since its own last
    run, whatever `now` each run was for. -#}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- For a model downstream of the journey models, incremental per customer (append, with
    delete_redecided_customers() as its pre-hook): the candidate rows some journey
    re-decided since this model's last run, found by `computed_at` alone (the engine skips
    the rest), and their customers. The watermark is read before the hook deletes anything. -#}
{% macro redecided_rows() -%}
    select *
    from {{ ref('journey_candidates') }}
    where computed_at > {{ incremental_watermark('computed_at') }}
{%- endmacro %}

{% macro redecided_customers() -%}
    select customer_id from ({{ redecided_rows() }}) as redecided
{%- endmacro %}

{% macro delete_redecided_customers() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where customer_id in ({{ redecided_customers() }})
    {%- endif -%}
{%- endmacro %}

{#- The same per journey and customer, for a model whose rows each belong to one journey
    (journey_instances): the re-decided (journey, customer) pairs are exactly the rows
    redecided_rows() returns. -#}
{% macro delete_redecided_journey_customers() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where journey || ':' || customer_id in (select journey || ':' || customer_id from ({{ redecided_rows() }}) as redecided)
    {%- endif -%}
{%- endmacro %}
