import os
from pathlib import Path

import pytest


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB warehouse file for one test; Dagster runs on an ephemeral instance."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("THROUGHLINE_WAREHOUSE", str(path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return path


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def dbt_manifest() -> dict:
    """The journeys compiled and the dbt project parsed, as `throughline prepare` does."""
    import json

    from orchestration.dbt.project import prepare_manifest, throughline_dbt_project

    prepare_manifest()
    return json.loads(throughline_dbt_project.manifest_path.read_text())
