"""Fixtures for the source tests: a fresh warehouse per test on each engine, and dbt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.identity import conftest as identity
from tests.engines import environment, selected
from orchestration.dbt.runner import DbtRun
from tests.identity.conftest import DBT_PROJECT_DIR, NOW, ROOT, query, warehouse  # noqa: F401  (the fixture too)

ALL_SOURCES = {"shopify_enabled": True, "stripe_enabled": True, "hubspot_enabled": True}


class Dbt(identity.Dbt):
    """dbt with the three sources switched on (a test may switch one off)."""

    def run(self, warehouse: Path, command: str, select: str | None = None, variables: dict | None = None,
            **options) -> DbtRun:
        return super().run(warehouse, command, select, variables={**ALL_SOURCES, **(variables or {})}, **options)

    def build(self, warehouse: Path, select: str, variables: dict | None = None) -> str:
        return super().build(warehouse, select, variables=variables)


@pytest.fixture(scope="session")
def dbt(tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    # Its own target folder: the sources switched on parse to another manifest.
    return Dbt(tmp_path_factory.mktemp("dbt_target_sources"))


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
