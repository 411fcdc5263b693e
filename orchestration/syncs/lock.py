"""One writer at a time on the warehouse, across processes.

Dagster's `warehouse` pool serializes assets within one deployment; this lock also
covers two `throughline tick` commands started at once, or a tick beside `dagster dev`.
On DuckDB it is a file lock next to the DuckDB file; on PostgreSQL a session advisory
lock, so it also spans machines. Either is released if the process dies. Re-entrant
within a process, so a tick can hold it around assets that take it too.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.settings import warehouse_path
from orchestration.warehouse import target

# The advisory lock's key on PostgreSQL: any constant the database's other users don't take.
ADVISORY_LOCK_KEY = 0x7468_726F_7567_6800  # "through\0"

_guard = threading.RLock()
_held: dict[object, tuple[Callable[[], None], int]] = {}


def lock_path() -> Path:
    path = warehouse_path()
    return path.with_name(path.name + ".lock")


def _file_lock(path: Path) -> Callable[[], None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held until released
    fcntl.flock(handle, fcntl.LOCK_EX)

    def release() -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    return release


def _advisory_lock() -> Callable[[], None]:
    from orchestration.warehouse import PostgresConnection

    con = PostgresConnection()  # the lock lives as long as this session
    con.execute(f"select pg_advisory_lock({ADVISORY_LOCK_KEY})")
    return con.close  # ending the session releases it


def _current() -> tuple[object, Callable[[], Callable[[], None]]]:
    """What identifies this warehouse's lock, and how to take it."""
    if target() == "postgres":
        env = os.environ
        key = ("postgres", env.get("THROUGHLINE_PG_HOST"), env.get("THROUGHLINE_PG_PORT"), env.get("THROUGHLINE_PG_DATABASE"))
        return key, _advisory_lock
    path = lock_path()
    return path, lambda: _file_lock(path)


@contextmanager
def warehouse_lock() -> Iterator[None]:
    key, take = _current()
    with _guard:  # threads of one process queue here; processes queue on the lock
        release, depth = _held.get(key, (None, 0))
        if release is None:
            release = take()
        _held[key] = (release, depth + 1)
        try:
            yield
        finally:
            release, depth = _held[key]
            if depth == 1:
                del _held[key]
                release()
            else:
                _held[key] = (release, depth - 1)
