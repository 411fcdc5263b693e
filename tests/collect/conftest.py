"""A collector on a free port of 127.0.0.1, keeping its calls under a fresh landing folder,
and the step a tick takes after it: load what it collected into the test's warehouse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests

from orchestration.collect.server import Collector, CollectorSettings

WRITE_KEY = "test-write-key"
THROUGHLINE = str(Path(sys.executable).parent / "throughline")


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> Path:
    folder = tmp_path / "landing"
    monkeypatch.setenv("THROUGHLINE_LANDING_DIR", str(folder))
    monkeypatch.delenv("THROUGHLINE_COLLECT_DIR", raising=False)
    return folder


def settings(folder: Path, port: int = 0, **overrides) -> CollectorSettings:
    values = dict(host="127.0.0.1", port=port, write_keys=(WRITE_KEY, "second-source-key"), folder=folder,
                  max_backlog_bytes=64 << 20, rotate_seconds=0.2)
    return CollectorSettings(**{**values, **overrides})


@pytest.fixture
def collector(landing: Path) -> Iterator[Collector]:
    running = Collector(settings(landing / "collected")).start()
    try:
        yield running
    finally:
        running.close()


def load_collected(collector: Collector | None = None) -> dict[str, int]:
    """What a tick's landing step does: load every closed segment (after closing the open one)."""
    from orchestration.syncs.landing import load_landing

    if collector is not None:
        collector.spool.rotate()
    return load_landing()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CollectorProcess:
    """`throughline collect` as a user runs it, in its own process (so it can be killed)."""

    def __init__(self, port: int, env: dict[str, str]):
        self.port, self.env = port, env
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "CollectorProcess":
        self.process = subprocess.Popen([THROUGHLINE, "collect"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.options(self.url + "/v1/batch", timeout=1)
                return self
            except requests.ConnectionError:
                assert self.process.poll() is None, self.process.stdout.read()
                time.sleep(0.05)
        raise AssertionError("the collector did not start within 30 s")

    def stop(self, signal_number: int) -> None:
        assert self.process is not None
        self.process.send_signal(signal_number)
        self.process.wait(timeout=30)


@pytest.fixture
def collector_process(landing: Path) -> Iterator[CollectorProcess]:
    env = {**os.environ, "THROUGHLINE_COLLECT_WRITE_KEYS": WRITE_KEY, "THROUGHLINE_COLLECT_PORT": str(free_port()),
           "THROUGHLINE_COLLECT_ROTATE_SECONDS": "0.2"}
    process = CollectorProcess(int(env["THROUGHLINE_COLLECT_PORT"]), env)
    try:
        yield process
    finally:
        if process.process and process.process.poll() is None:
            process.process.kill()
            process.process.wait()
