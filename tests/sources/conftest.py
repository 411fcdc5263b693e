"""Fixtures for the source tests: a fresh warehouse per test on each engine, and dbt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engines import environment, selected

ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
NOW = "2026-03-01T00:00:00"
ALL_SOURCES = {"shopify_enabled": True, "stripe_enabled": True, "hubspot_enabled": True}


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh warehouse for one test, on each engine in turn, named by its path (tests/engines.py)."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    if request.param == "postgres":
        for key, value in request.getfixturevalue("postgres_server").env("postgres").items():
            monkeypatch.setenv(key, value)
    else:
        monkeypatch.setenv("THROUGHLINE_TARGET", "duckdb")
    for key, value in selected(path).items():
        monkeypatch.setenv(key, value)
    return path


class Dbt:
    def __init__(self, target: Path):
        self.target = target

    def run(self, warehouse: Path, command: str, select: str, variables: dict) -> subprocess.CompletedProcess:
        args = [str(DBT), command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target-path", str(self.target), "--log-path", str(self.target / "logs"),
                "--vars", json.dumps({"now": NOW, **variables}), "--select", *select.split(),
                # cautious: a test that also reads an unselected model (relationships) is left out
                "--indirect-selection", "cautious"]
        env = {**os.environ, **selected(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)

    def build(self, warehouse: Path, select: str, variables: dict | None = None) -> str:
        result = self.run(warehouse, "build", select, {**ALL_SOURCES, **(variables or {})})
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
        return result.stdout


@pytest.fixture(scope="session")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    # Its own target folder: the sources switched on parse to another manifest.
    return Dbt(tmp_path_factory.mktemp("dbt_target_sources"))


def query(warehouse: Path, sql: str) -> list[tuple]:
    from orchestration.warehouse import connect

    with environment(selected(warehouse)):
        con = connect(warehouse)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def load_segment_calls(warehouse: Path, path: Path, calls: list[dict]) -> None:
    """Write Segment calls to a JSON Lines file and load them as a tick would (raw tables,
    the phone step); with no calls, the raw tables are made empty."""
    from orchestration.ingest.loader import load_file
    from orchestration.phone_numbers import normalise_new_phone_numbers
    from orchestration.warehouse import raw_layer

    path.write_text("".join(json.dumps(call) + "\n" for call in calls))
    with environment(selected(warehouse)), raw_layer(warehouse) as con:
        if calls:
            assert load_file(con, path).rows_rejected == 0
        normalise_new_phone_numbers(con, sources={"shopify", "stripe", "hubspot"})  # on, as the builds switch them
