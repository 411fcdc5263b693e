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

{#- For a model downstream of the journey models, incremental per customer (the
    changed_rows strategy below): the candidate rows some journey re-decided since this
    model's last run, found by `computed_at` alone (the engine skips the rest), and their
    customers. The watermark is read before anything is written. -#}
{% macro redecided_rows() -%}
    select *
    from {{ ref('journey_candidates') }}
    where computed_at > {{ incremental_watermark('computed_at') }}
{%- endmacro %}

{% macro redecided_customers() -%}
    select customer_id from ({{ redecided_rows() }}) as redecided
{%- endmacro %}

{#- The models downstream of the journey models (journey_instances, journey_decisions) are
    incremental with this strategy (incremental_strategy='changed_rows'): the temp table
    holds the rows of each customer in each journey that re-decided them since (and any
    other row the model decided again), and only the rows that came out different replace
    the stored ones. Most of those rows are the same as before (their history, a decision
    that still stands): left where they are, they cost no delete, no insert, and no vacuum
    of scattered deletes at DuckDB's next checkpoint. A customer whose rows all went away
    (a merge) is still in scope: the journey model leaves a row of kind 'customer' for
    everyone it re-decided. Config: `unique_key`, the row's id; `compare_excluding`, the
    columns that say when a row was computed rather than what it says. A stored row keeps
    its own values of those. -#}
{% macro get_incremental_changed_rows_sql(arg_dict) -%}
    {%- set stored = arg_dict['target_relation'] -%}
    {%- set fresh = arg_dict['temp_relation'] -%}
    {%- set key = adapter.quote(arg_dict['unique_key']) -%}
    {%- set excluded = config.get('compare_excluding', []) + [arg_dict['unique_key']] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ stored }} as stored
    where (
          stored.journey || ':' || stored.customer_id in (
              select journey || ':' || customer_id from ({{ redecided_rows() }}) as redecided
          )
          or stored.{{ key }} in (select {{ key }} from {{ fresh }})
      )
      and not exists (
          select 1 from {{ fresh }} as fresh
          where fresh.{{ key }} = stored.{{ key }}
          {%- for column in arg_dict['dest_columns'] if column.name not in excluded %}
            and fresh.{{ column.quoted }} is not distinct from stored.{{ column.quoted }}
          {%- endfor %}
      );

    insert into {{ stored }} ({{ columns }})
    select {{ columns }} from {{ fresh }} as fresh
    where not exists (select 1 from {{ stored }} as stored where stored.{{ key }} = fresh.{{ key }})
{%- endmacro %}
