"""dbt's unit tests (models/*/_*__unit_tests.yml): fixed inputs, expected rows. Ticks leave
them out (they check the SQL, not the data), so the suite runs them here, on each engine,
on a warehouse whose models exist but hold (almost) nothing: the raw layer is empty.

Why `dbt run` and not `dbt run --empty`: on PostgreSQL `--empty` wraps each ref in an
aliased subquery, which is invalid SQL where a model aliases the ref itself
(`from {{ ref('x') }} as y`; dbt-labs/dbt-adapters#124)."""

import json

from orchestration.dbt.runner import in_process_dbt
from orchestration.phone_numbers import normalise_new_phone_numbers
from orchestration.warehouse import raw_layer


def test_every_dbt_unit_test_passes(engine, tmp_path, dbt_manifest):
    # The `engine` fixture selects a fresh warehouse (DuckDB file or PostgreSQL database)
    # in the environment, for raw_layer() and dbt alike.
    with raw_layer() as con:
        normalise_new_phone_numbers(con)  # the phone step's table, as every tick has it
    for command in (["seed"], ["run"], ["test", "--select", "test_type:unit"]):
        result = in_process_dbt().invoke(command, target_path=tmp_path / "target")
        assert result.success, f"dbt {' '.join(command)} on {engine}:\n{result.output[-4000:]}"

    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    ran = [r for r in results if not r["unique_id"].startswith("operation.")]  # the run-end hook is listed too
    declared = [n for n in dbt_manifest["unit_tests"]]
    assert len(declared) >= 5
    assert sorted(r["unique_id"] for r in ran) == sorted(declared)
    assert all(r["status"] == "pass" for r in ran)
