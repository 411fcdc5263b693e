{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_identity__calls'}}}) }}
{#- Every phone of an identify call has a row in the phone lookup. The Dagster asset
    raw/phone_numbers runs before dbt in every tick; a warning here means dbt ran without
    it (by hand: `python -m orchestration.phone_numbers` first), or a load landed between
    the two, and those calls' phones did not link anyone (see docs/identity.md). -#}
select calls.message_id, calls.raw_phone, calls.country_code
from {{ ref('int_identity__calls') }} as calls
where calls.call_type = 'identify'
  and calls.raw_phone is not null
  and not exists (
      select 1 from {{ ref('stg_phone__numbers') }} as phone_numbers
      where phone_numbers.raw_phone = calls.raw_phone
        and phone_numbers.country_code is not distinct from calls.country_code
  )
