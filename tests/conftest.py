import os
from pathlib import Path

import pytest


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DuckDB warehouse file for one test; Dagster runs on an ephemeral instance."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("THROUGHLINE_WAREHOUSE", str(path))
    monkeypatch.setenv("THROUGHLINE_TARGET", "duckdb")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return path


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


ENGINES = ("duckdb", "postgres")


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under pytest-xdist (`--dist loadgroup`), a module's tests on one engine run in one
    worker, so a module-scoped warehouse is built once; a module that marks its own
    `xdist_group` (the ones whose Dagster runs share dbt_project/target) keeps it. Marked
    as each test is collected: xdist reads the groups in pytest_collection_modifyitems."""
    if item.get_closest_marker("xdist_group"):
        return
    params = getattr(item, "callspec", None)
    engine = next((v for v in (params.params.values() if params else ()) if v in ENGINES), "")
    item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}:{engine}"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Dagster group first: it is the longest, and xdist hands groups out in this order."""
    items.sort(key=lambda item: item.get_closest_marker("xdist_group").args[0] != "dagster")


@pytest.fixture(scope="session")
def dbt_manifest() -> dict:
    """The journeys compiled and the dbt project parsed, as `throughline prepare` does."""
    import json

    from filelock import FileLock

    from orchestration.dbt.project import prepare_manifest, throughline_dbt_project

    # Each xdist worker asks for it: the first prepares (~10 s) while the others wait, and
    # marks it done for this test run (xdist's run id), so the others only read it.
    target = throughline_dbt_project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    done = target / f"prepared-{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}"
    with FileLock(target / "prepare.lock"):
        if not done.exists():
            for stale in target.glob("prepared-*"):
                stale.unlink()
            prepare_manifest()
            done.touch()
        return json.loads(throughline_dbt_project.manifest_path.read_text())


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (tests/pg_server.py). No PostgreSQL
    here fails the tests that need it, never skips them: `make test` installs it."""
    from tests.pg_server import PostgresServer

    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_warehouse(postgres_server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database on the session's server for one test, selected as the warehouse
    (THROUGHLINE_TARGET=postgres) for Python and for dbt alike."""
    import uuid

    name = "wh_" + uuid.uuid4().hex[:12]
    postgres_server.create_database(name)
    for key, value in postgres_server.env(name).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return name


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    """Runs the test once on each engine, with a fresh warehouse selected for Python and dbt
    (`raw_layer()`, `connect()` and `dbt build` all follow it)."""
    request.getfixturevalue("warehouse" if request.param == "duckdb" else "postgres_warehouse")
    return request.param
