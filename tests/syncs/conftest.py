"""Fixtures for the sync tests: the local vendor servers, wired in through the environment
exactly as production wires the real APIs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.syncs.local import LocalDestinations, local_destinations


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDestinations]:
    with local_destinations() as destinations:
        for name, value in destinations.env.items():
            monkeypatch.setenv(name, value)
        yield destinations
