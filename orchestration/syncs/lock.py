"""One writer at a time on the warehouse, across processes.

Dagster's `warehouse` pool serializes assets within one deployment; this lock also
covers two `throughline tick` commands started at once, or a tick beside `dagster dev`.
It is a file lock next to the DuckDB file (a PostgreSQL warehouse would use an advisory
lock). Re-entrant within a process, so a tick can hold it around assets that take it too.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from orchestration.settings import warehouse_path

_guard = threading.RLock()
_held: dict[Path, tuple[IO[str], int]] = {}


def lock_path() -> Path:
    path = warehouse_path()
    return path.with_name(path.name + ".lock")


@contextmanager
def warehouse_lock() -> Iterator[None]:
    path = lock_path()
    with _guard:  # threads of one process queue here; processes queue on flock
        handle, depth = _held.get(path, (None, 0))
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")  # noqa: SIM115 - held across the context
            fcntl.flock(handle, fcntl.LOCK_EX)
        _held[path] = (handle, depth + 1)
        try:
            yield
        finally:
            handle, depth = _held[path]
            if depth == 1:
                del _held[path]
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            else:
                _held[path] = (handle, depth - 1)
