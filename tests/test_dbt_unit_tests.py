"""dbt's unit tests (models/*/_*__unit_tests.yml): fixed inputs, expected rows. Ticks leave
them out (they check the SQL, not the data), so the suite runs them here, on each engine,
on a warehouse whose models exist but hold (almost) nothing: the raw layer is empty.

Why `dbt run` and not `dbt run --empty`: on PostgreSQL `--empty` wraps each ref in an
aliased subquery, which is invalid SQL where a model aliases the ref itself
(`from {{ ref('x') }} as y`; dbt-labs/dbt-adapters#124)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.phone_numbers import normalise_new_phone_numbers
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.warehouse import raw_layer

DBT = str(Path(sys.executable).parent / "dbt")


def test_every_dbt_unit_test_passes(engine, tmp_path, dbt_manifest):
    # The `engine` fixture selects a fresh warehouse (DuckDB file or PostgreSQL database)
    # in the environment, for raw_layer() and dbt alike.
    with raw_layer() as con:
        normalise_new_phone_numbers(con)  # the phone step's table, as every tick has it
    common = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target")]
    for command in (["seed"], ["run"], ["test", "--select", "test_type:unit"]):
        result = subprocess.run([DBT, *command, *common], env=dict(os.environ), capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"dbt {' '.join(command)} on {engine}:\n{result.stdout[-4000:]}"

    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    ran = [r for r in results if not r["unique_id"].startswith("operation.")]  # the run-end hook is listed too
    declared = [n for n in dbt_manifest["unit_tests"]]
    assert len(declared) >= 5
    assert sorted(r["unique_id"] for r in ran) == sorted(declared)
    assert all(r["status"] == "pass" for r in ran)
