"""The Dagster definitions load, validate, and show every dbt model as an asset."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parent.parent


def test_every_dbt_model_is_an_asset_with_its_tests_as_checks(dbt_manifest):
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    asset_keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    # An asset's key is where the model lives in the warehouse: schema/model.
    models = {f'{n["schema"]}/{n["name"]}' for n in dbt_manifest["nodes"].values() if n["resource_type"] == "model"}
    assert len(models) >= 6, "the dbt project has its staging models"
    assert models <= asset_keys, f"models missing from the asset graph: {sorted(models - asset_keys)}"
    assert {"raw/events", "raw/rejects", "raw/loads"} <= asset_keys, "sources appear under their warehouse location"

    checks = {key.name for key in graph.asset_check_keys}
    assert "unique_dim_customers_customer_id" in checks, "dbt tests are asset checks"
    assert "unique_stg_segment__tracks_message_id" not in checks, "history checks run nightly (orchestration/checks.py)"
    groups = {graph.get(dg.AssetKey.from_user_string(m)).group_name for m in models}
    assert "staging" in groups and "default" not in groups


def test_tick_job_selects_every_model():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("tick")
    assert job.name == "tick"
    assert len(list(job.asset_layer.executable_asset_keys)) >= 6


def test_dagster_definitions_validate_passes(dbt_manifest, tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "THROUGHLINE_WAREHOUSE": str(tmp_path / "w.duckdb")}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr
