"""Identity assets that run outside dbt: phone numbers parsed to E.164 before the models."""

import dagster as dg

from orchestration.phone_numbers import PHONE_NUMBERS_TABLE, PHONE_STEP_MEMORY_LIMIT, normalise_new_phone_numbers
from orchestration.warehouse import connect


@dg.asset(
    key=["raw", "phone_numbers"],
    deps=[dg.AssetKey(["raw", "events"])],
    group_name="raw",
    pool="warehouse",  # the same single-writer pool as the dbt build
    description="Phones of identify traits parsed to E.164 with `phonenumbers`; a lookup the identity models join to.",
)
def phone_numbers() -> dg.MaterializeResult:
    con = connect(memory_limit=PHONE_STEP_MEMORY_LIMIT)
    try:
        counts = normalise_new_phone_numbers(con)
        total = con.execute(f"select count(*) from {PHONE_NUMBERS_TABLE}").fetchone()[0]
    finally:
        con.close()
    return dg.MaterializeResult(metadata={**counts, "rows": total})
