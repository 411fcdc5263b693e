"""A file's rows, read and validated a chunk at a time, in order.

Validation (JSON decoding, parse_call) is most of a load's CPU. Large JSON Lines files
are cut into chunks of lines that worker processes validate while the loading process
writes the chunks before them; at most two chunks per worker are in flight, so memory
stays flat whatever the file size. Every other file is read in process, with the same
code: a row is accepted or rejected exactly as in a single process.
"""

from __future__ import annotations

import atexit
import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa

from orchestration.ingest.readers import Row, format_of, jsonl_row, open_binary, read_calls
from orchestration.ingest.segment_spec import RawEvent, RejectedCall, parse_call

EVENT_COLUMNS = list(RawEvent._fields)

# Files smaller than this are validated in process: starting workers costs more.
PARALLEL_MIN_BYTES = 16 << 20


@dataclass
class Chunk:
    rows_read: int = 0
    events: pa.Table | None = None  # the accepted calls, EVENT_COLUMNS + source_line
    rejects: list[tuple[int, str, str, str]] = field(default_factory=list)  # (line, code, reason, payload)


def parse_rows(rows: Iterable[Row]) -> Chunk:
    chunk = Chunk()
    events: list[RawEvent] = []
    lines: list[int] = []
    for line, call, payload in rows:
        chunk.rows_read += 1
        if isinstance(call, RejectedCall):
            chunk.rejects.append((line, call.code, call.reason, payload))
            continue
        try:
            events.append(parse_call(call))
            lines.append(line)
        except RejectedCall as rejection:
            chunk.rejects.append((line, rejection.code, rejection.reason, payload))
    if events:
        columns = dict(zip(EVENT_COLUMNS, map(list, zip(*events))))
        columns["occurred_at"] = pa.array(columns["occurred_at"], pa.timestamp("us"))
        columns["source_line"] = pa.array(lines, pa.int64())
        chunk.events = pa.table(columns)
    return chunk


def parse_jsonl_lines(first_number: int, lines: list[bytes]) -> Chunk:
    """A worker's task: consecutive lines of a JSON Lines file, the first numbered `first_number`."""
    return parse_rows(row for number, line in enumerate(lines, first_number) if (row := jsonl_row(number, line)) is not None)


def default_workers() -> int:
    """THROUGHLINE_LOAD_WORKERS, else one per core (at most 4); 0 or 1 validates in process."""
    value = os.environ.get("THROUGHLINE_LOAD_WORKERS")
    return int(value) if value else min(os.cpu_count() or 1, 4)


_pools: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process and size, kept for the next file. Spawned, not forked: the
    loading process has DuckDB's threads running."""
    if workers not in _pools:
        _pools[workers] = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    return _pools[workers]


@atexit.register
def _shutdown() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)


def chunks(path: Path, batch_rows: int, workers: int | None = None) -> Iterator[Chunk]:
    """The file's rows in order, `batch_rows` at a time (lines, for JSON Lines)."""
    if workers is None:
        workers = default_workers() if path.stat().st_size >= PARALLEL_MIN_BYTES else 0
    if workers > 1 and format_of(path) == "jsonl":
        yield from _parallel_jsonl(path, batch_rows, workers)
        return
    rows = read_calls(path)
    while chunk_rows := list(islice(rows, batch_rows)):
        yield parse_rows(chunk_rows)


def _parallel_jsonl(path: Path, batch_rows: int, workers: int) -> Iterator[Chunk]:
    pool, pending, number = _pool(workers), deque(), 1
    try:
        with open_binary(path) as f:
            while lines := list(islice(f, batch_rows)):
                pending.append(pool.submit(parse_jsonl_lines, number, lines))
                number += len(lines)
                if len(pending) >= 2 * workers:  # bounded: this many chunks in memory at most
                    yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        _pools.pop(workers, None)  # a worker died (killed, out of memory): the next file starts a new pool
        raise
