"""Helpers for the identity tests: write Segment calls, load them, build dbt, read marts.

Each test builds the dbt project with the dbt beside this Python, into a warehouse in
its own tmp_path, and runs once on DuckDB and once on PostgreSQL (the `warehouse`
fixture; tests/engines.py). The dbt target folder is shared by the session (partial
parsing keeps each build quick) and lives in a temporary folder, never in the project.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from orchestration.dbt.runner import DbtRun, in_process_dbt
from tests.engines import environment, selected

ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = ROOT / "dbt_project"
NOW = "2026-03-01T00:00:00"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

IDENTITY_MARTS = "+customer_identifiers +customer_id_merges +excluded_identifiers"
# Everything this issue builds (and what it reads), not models other layers add downstream.
PROFILE_MARTS = IDENTITY_MARTS + " +dim_customers +fct_orders +fct_sessions +customer_rfm +segment_memberships +segment_changes"


MESSAGE_NUMBERS = itertools.count(1)  # message ids stay unique across every Calls of a session


class Calls:
    """Builds Segment calls with unique message ids and increasing timestamps."""

    def __init__(self, start: datetime = START):
        self.clock = start
        self.rows: list[dict] = []

    def _envelope(self, call_type: str, at: datetime | None) -> dict:
        if at is None:
            self.clock += timedelta(seconds=7)
            at = self.clock
        return {
            "type": call_type,
            "messageId": str(uuid.UUID(int=next(MESSAGE_NUMBERS))),
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "context": {"timezone": "Europe/London", "device": {"id": "d", "type": "desktop"}},
        }

    def track(self, event: str, *, anonymous_id: str | None = None, user_id: str | None = None,
              properties: dict | None = None, at: datetime | None = None) -> dict:
        call = self._envelope("track", at) | {"event": event, "properties": properties or {}}
        if anonymous_id is not None:
            call["anonymousId"] = anonymous_id
        if user_id is not None:
            call["userId"] = user_id
        self.rows.append(call)
        return call

    def identify(self, *, anonymous_id: str | None = None, user_id: str | None = None,
                 traits: dict | None = None, at: datetime | None = None) -> dict:
        call = self._envelope("identify", at) | {"traits": traits or {}}
        if anonymous_id is not None:
            call["anonymousId"] = anonymous_id
        if user_id is not None:
            call["userId"] = user_id
        self.rows.append(call)
        return call

    def alias(self, previous_id: str, user_id: str, at: datetime | None = None) -> dict:
        call = self._envelope("alias", at) | {"previousId": previous_id, "userId": user_id}
        self.rows.append(call)
        return call

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as f:
            for row in self.rows:
                f.write(json.dumps(row) + "\n")
        self.rows = []
        return path


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh warehouse for one test, on each engine in turn, named by its path."""
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


def load(warehouse: Path, *paths: Path) -> None:
    """Load files into raw.events and run the phone step, as a tick would before dbt."""
    from orchestration.ingest.loader import load_file
    from orchestration.phone_numbers import normalise_new_phone_numbers
    from orchestration.warehouse import raw_layer

    with environment(selected(warehouse)), raw_layer(warehouse) as con:
        for path in paths:
            result = load_file(con, path)
            assert result.rows_rejected == 0, f"test data rejected: {path}"
        normalise_new_phone_numbers(con)


class Dbt:
    """dbt in this process (orchestration/dbt/runner.py), into the session's target folder."""

    def __init__(self, target: Path):
        self.target = target

    def run(self, warehouse: Path, command: str, select: str | None = None, *, full_refresh: bool = False,
            variables: dict | None = None) -> DbtRun:
        """dbt `command` on `warehouse`, whatever its outcome (a test of bad input expects a failure)."""
        args = [command]
        if select:
            # cautious: a test that also reads an unselected model (relationships) is left out
            args += ["--select", *select.split(), "--indirect-selection", "cautious"]
        if full_refresh:
            args.append("--full-refresh")
        return in_process_dbt().invoke(args, target_path=self.target, env=selected(warehouse),
                                       variables={"now": NOW, **(variables or {})}, artifacts=False)

    def build(self, warehouse: Path, select: str = IDENTITY_MARTS, *, full_refresh: bool = False,
              variables: dict | None = None) -> str:
        return self.run(warehouse, "build", select, full_refresh=full_refresh, variables=variables).raise_on_failure().output


@pytest.fixture(scope="session")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    return Dbt(tmp_path_factory.mktemp("dbt_target"))


def query(warehouse: Path, sql: str) -> list[tuple]:
    from orchestration.warehouse import connect

    with environment(selected(warehouse)):
        con = connect(warehouse)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def customers_by_identifier(warehouse: Path) -> dict[str, str]:
    rows = query(warehouse, "select identifier_type || ':' || identifier_value, customer_id from marts.customer_identifiers")
    return dict(rows)


def partition(mapping: dict[str, str]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for identifier, customer in mapping.items():
        groups.setdefault(customer, set()).add(identifier)
    return {frozenset(g) for g in groups.values()}


class UnionFind:
    """The reference: textbook union-find with path halving and union by size."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def add(self, x: str) -> None:
        if x not in self.parent:
            self.parent[x] = x
            self.size[x] = 1

    def find(self, x: str) -> str:
        self.add(x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def link_all(self, identifiers: list[str]) -> None:
        for x in identifiers:
            self.add(x)
        for other in identifiers[1:]:
            self.union(identifiers[0], other)

    def groups(self) -> set[frozenset[str]]:
        out: dict[str, set[str]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), set()).add(x)
        return {frozenset(g) for g in out.values()}
