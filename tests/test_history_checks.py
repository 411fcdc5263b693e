"""The checks over all history run nightly, not per tick: the tick's dbt assets leave them
out, and the nightly job runs them and fails, naming the test, when one fails."""

import duckdb
import pytest

from orchestration.dbt.runner import in_process_dbt
from tests.analytics.demo_warehouse import build_demo_warehouse

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")


@pytest.fixture(scope="module")
def built(tmp_path_factory, dbt_manifest):
    tmp = tmp_path_factory.mktemp("history")
    warehouse = build_demo_warehouse(tmp, customers=80, days=10, seed=3)
    # every staging view too, as a tick builds them (the analytics don't read them all)
    in_process_dbt().invoke(["run", "--select", "staging"], target_path=tmp / "target",
                            env={"THROUGHLINE_WAREHOUSE": str(warehouse)}, artifacts=False).raise_on_failure()
    return warehouse


def history_tests(manifest: dict) -> set[str]:
    return {node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "test" and "history" in node["tags"]}


def run_nightly_job(warehouse, monkeypatch):
    import dagster as dg

    from orchestration.checks import history_checks_job
    from orchestration.resources import dbt_resource

    monkeypatch.setenv("THROUGHLINE_WAREHOUSE", str(warehouse))
    return history_checks_job.execute_in_process(resources={"dbt": dbt_resource()}, instance=dg.DagsterInstance.ephemeral(),
                                                 raise_on_error=False)


def test_the_tick_leaves_the_history_checks_to_the_nightly_job(dbt_manifest):
    from orchestration.dbt.assets import dbt_models

    nightly = history_tests(dbt_manifest)
    assert {"unique_int_journeys__calls_message_id", "unique_int_identity__calls_message_id",
            "unique_stg_segment__tracks_message_id", "has_identity_stg_segment__tracks_"} <= nightly
    per_tick = {spec.name for spec in dbt_models.check_specs}
    assert per_tick and not (per_tick & nightly)
    assert "not_null_int_journeys__calls_message_id" in per_tick  # cheap checks stay


def test_the_nightly_job_runs_them_and_names_a_failure(built, dbt_manifest, monkeypatch):
    result = run_nightly_job(built, monkeypatch)
    assert result.success
    assert result.output_for_node("history_checks") == len(history_tests(dbt_manifest))

    with duckdb.connect(str(built)) as con:  # a call stored twice
        con.execute("insert into journeys.int_journeys__calls select * from journeys.int_journeys__calls limit 1")
    result = run_nightly_job(built, monkeypatch)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "history checks failed" in failure.step_failure_data.error.message
    assert "unique_int_journeys__calls_message_id" in str(failure.step_failure_data.user_failure_data.metadata["failed"].value)
