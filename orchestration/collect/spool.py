"""The collector's disk queue: calls are appended to a segment file and fsynced before the
collector answers 200, so an acknowledged call survives the collector's death.

A segment is `<spool>/<start>-<pid>-<n>.ndjson.open` while it is written; it is closed
(fsynced, renamed to `.ndjson`) when it reaches SEGMENT_BYTES or is ROTATE_SECONDS old.
The loader only reads closed segments (`.open` is no file type it knows) and deletes each
one it has loaded, so the bytes in the folder are the backlog the warehouse has not taken
yet: past `max_backlog_bytes` the collector refuses new calls (503) rather than keep more
than it can.

Appends from concurrent requests share fsyncs (group commit): a request waits only for an
fsync that started after its own write, and one fsync covers every write before it.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

OPEN_SUFFIX = ".ndjson.open"
CLOSED_SUFFIX = ".ndjson"
SEGMENT_BYTES = 16 << 20


class BacklogFull(Exception):
    """The folder holds more unloaded calls than the limit: try again later."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _writer_alive(path: Path) -> bool:
    """Is the collector that opened this segment (its pid is in the name) still running?"""
    try:
        pid = int(path.name.split("-")[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:  # running, as another user
        return True
    return pid != os.getpid()


class _Segment:
    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self.opened_at = time.monotonic()
        self.size = 0  # bytes written
        self.synced = 0  # bytes known to be on disk
        self.sync_lock = threading.Lock()
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        self.size += len(data)
        return self.size

    def sync_to(self, offset: int) -> None:
        """Return once the first `offset` bytes are on disk."""
        if self.synced >= offset:
            return
        with self.sync_lock:
            if self.synced >= offset:  # an fsync that started after our write covered it
                return
            size = self.size  # everything written so far is covered by this fsync
            os.fsync(self.fd)
            self.synced = size

    def close(self) -> Path:
        with self.sync_lock:
            os.fsync(self.fd)
            self.synced = self.size
            os.close(self.fd)
            self.closed = True
        closed = self.path.with_name(self.path.name[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX)
        os.rename(self.path, closed)
        return closed


class Spool:
    def __init__(self, folder: Path, *, max_backlog_bytes: int, rotate_seconds: float = 1.0, segment_bytes: int = SEGMENT_BYTES):
        self.folder = Path(folder)
        self.max_backlog_bytes = max_backlog_bytes
        self.rotate_seconds = rotate_seconds
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._current: _Segment | None = None
        self._count = 0
        self._stopped = threading.Event()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.recover()
        self._scanned_bytes = self._folder_bytes()  # segment files at the last look at the folder
        self._appended_bytes = 0  # written since
        self._rotator = threading.Thread(target=self._rotate_loop, name="spool-rotate", daemon=True)
        self._rotator.start()

    def recover(self) -> list[Path]:
        """Close the segments a killed collector left open (not those of another collector
        still writing to this folder). A trailing partial line was never acknowledged (the
        client retries it), so it is cut off."""
        closed = []
        for path in sorted(self.folder.glob("*" + OPEN_SUFFIX)):
            if _writer_alive(path):
                continue
            data = path.read_bytes()
            keep = data.rfind(b"\n") + 1
            if keep == 0:
                path.unlink()
                continue
            with open(path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())
            target = path.with_name(path.name[: -len(OPEN_SUFFIX)] + CLOSED_SUFFIX)
            os.rename(path, target)
            closed.append(target)
        if closed:
            _fsync_dir(self.folder)
        return closed

    def backlog_bytes(self) -> int:
        return self._scanned_bytes + self._appended_bytes

    def append(self, data: bytes) -> None:
        """Write whole lines and return once they are on disk; BacklogFull if the folder is full."""
        with self._lock:
            if self.backlog_bytes() + len(data) > self.max_backlog_bytes:
                raise BacklogFull
            segment = self._current or self._open()
            offset = segment.write(data)
            self._appended_bytes += len(data)
            full = segment.size >= self.segment_bytes
            if full:
                self._current = None
        segment.sync_to(offset)
        if full:
            self._close(segment)

    def _open(self) -> _Segment:
        self._count += 1
        name = f"{time.time_ns()}-{os.getpid()}-{self._count:06d}{OPEN_SUFFIX}"
        self._current = _Segment(self.folder / name)
        _fsync_dir(self.folder)  # the new file's name is durable before any call in it is acknowledged
        return self._current

    def _close(self, segment: _Segment) -> Path:
        closed = segment.close()
        _fsync_dir(self.folder)
        return closed

    def rotate(self) -> Path | None:
        """Close the open segment now, so the loader can take it."""
        with self._lock:
            segment, self._current = self._current, None
        return self._close(segment) if segment is not None else None

    def _folder_bytes(self) -> int:
        total = 0
        for path in self.folder.iterdir():
            if path.name.endswith((CLOSED_SUFFIX, OPEN_SUFFIX)):
                try:
                    total += path.stat().st_size
                except FileNotFoundError:  # loaded and deleted meanwhile
                    pass
        return total

    def _rotate_loop(self) -> None:
        while not self._stopped.wait(min(self.rotate_seconds, 1.0) / 4):
            current = self._current
            if current is not None and current.size and time.monotonic() - current.opened_at >= self.rotate_seconds:
                self.rotate()
            self.rescan()

    def rescan(self) -> None:
        """The loader deletes what it took: the backlog shrinks as the folder does."""
        with self._lock:
            self._scanned_bytes, self._appended_bytes = self._folder_bytes(), 0

    def close(self) -> None:
        self._stopped.set()
        self._rotator.join()
        self.rotate()
