"""`throughline load`: stream files of Segment calls into raw.events and raw.rejects.

Idempotent by messageId: a call already in the warehouse (or earlier in the same file)
is counted as a duplicate and not inserted again. For every file,
rows read = loaded + duplicates + rejected.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from orchestration.ingest.chunks import EVENT_COLUMNS, Chunk, chunks
from orchestration.ingest.readers import format_of
from orchestration.warehouse import Connection, stage, unstage

BATCH_ROWS = 20_000

# The loader streams: DuckDB needs little memory for it, so cap its buffer pool.
LOADER_MEMORY_LIMIT = "256MB"

# A file's accepted calls are staged in a temporary table, and deduplicated against
# raw.events once per file: the probe reads every stored message_id (random uuids, so no
# block can be skipped), which per 20,000-row batch made a load quadratic in the history.
# The staged table lives in the engine's storage (DuckDB spills it past its memory limit),
# so memory stays flat whatever the file size. Same SQL on every engine.
STAGED_EVENTS = "loader_staged_events"
CREATE_STAGED_EVENTS = f"""
create temporary table {STAGED_EVENTS} (
    message_id varchar, type varchar, event varchar, name varchar, user_id varchar, anonymous_id varchar,
    previous_id varchar, occurred_at timestamp, properties varchar, traits varchar, context varchar, source_line bigint
)
"""

# Insert only calls whose message_id is new, keeping the first of any repeats in the file
# (source_line is unique within a file).
INSERT_NEW_EVENTS = f"""
insert into raw.events
select {{columns}}, ?, ?, source_line, ?
from {STAGED_EVENTS} as staged
where source_line in (select min(source_line) from {STAGED_EVENTS} group by message_id)
  and not exists (select 1 from raw.events e where e.message_id = staged.message_id)
"""

INSERT_NEW_REJECTS = """
insert into raw.rejects
select reject_id, ?, ?, source_line, reason_code, reason, payload, ?
from rejected
where not exists (select 1 from raw.rejects r where r.reject_id = rejected.reject_id)
"""


@dataclass
class FileLoad:
    source_file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0

    def add(self, other: "FileLoad") -> None:
        self.rows_read += other.rows_read
        self.rows_loaded += other.rows_loaded
        self.rows_duplicate += other.rows_duplicate
        self.rows_rejected += other.rows_rejected


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _reject_id(source_file: str, line: int, payload: str) -> str:
    return hashlib.sha256(f"{source_file}\x00{line}\x00{payload}".encode()).hexdigest()[:32]


class _FileLoader:
    """Stages one file's accepted rows, writes its rejects, and inserts the new calls at the end."""

    def __init__(self, con: Connection, source_file: str):
        self.con = con
        self.load_id = uuid.uuid4().hex
        self.started_at = _now()
        self.counts = FileLoad(source_file)
        self.params = [self.load_id, source_file, self.started_at]
        self.staged = 0  # rows in the staged table

    def add(self, chunk: Chunk) -> None:
        self.counts.rows_read += chunk.rows_read
        if chunk.events is not None:
            self.stage_events(chunk.events)
        if chunk.rejects:
            self.insert_rejects(chunk.rejects)

    def stage_events(self, events: pa.Table) -> None:
        """Append accepted calls to the file's staged table (deduplicated in finish())."""
        if not self.staged:
            self.con.execute(f"drop table if exists {STAGED_EVENTS}")
            self.con.execute(CREATE_STAGED_EVENTS)
        stage(self.con, "batch", events)
        self.con.execute(f"insert into {STAGED_EVENTS} select * from batch")
        unstage(self.con, "batch")
        self.staged += events.num_rows

    def insert_new_events(self) -> None:
        if not self.staged:
            return
        sql = INSERT_NEW_EVENTS.format(columns=", ".join(EVENT_COLUMNS))
        inserted = self.con.execute(sql, self.params).fetchone()[0]
        self.con.execute(f"drop table {STAGED_EVENTS}")
        self.counts.rows_loaded += inserted
        self.counts.rows_duplicate += self.staged - inserted
        self.staged = 0

    def insert_rejects(self, rejects: list[tuple[int, str, str, str]]) -> None:
        source_file = self.params[1]
        rejected = pa.table(
            {
                "reject_id": [_reject_id(source_file, line, payload) for line, _, _, payload in rejects],
                "source_line": [line for line, _, _, _ in rejects],
                "reason_code": [code for _, code, _, _ in rejects],
                "reason": [reason for _, _, reason, _ in rejects],
                "payload": [payload for _, _, _, payload in rejects],
            }
        )
        stage(self.con, "rejected", rejected)
        self.con.execute(INSERT_NEW_REJECTS, self.params)
        unstage(self.con, "rejected")
        self.counts.rows_rejected += len(rejects)

    def finish(self) -> FileLoad:
        self.insert_new_events()
        c = self.counts
        self.con.execute(
            "insert into raw.loads values (?, ?, ?, ?, ?, ?, ?, ?)",
            [self.load_id, c.source_file, self.started_at, _now(), c.rows_read, c.rows_loaded, c.rows_duplicate, c.rows_rejected],
        )
        return c


def load_file(con: Connection, path: Path, *, batch_rows: int = BATCH_ROWS, workers: int | None = None) -> FileLoad:
    """Load one file; the raw tables must exist (see orchestration.warehouse.raw_layer).
    `workers`: processes validating a large JSON Lines file (orchestration.ingest.chunks);
    None chooses by the file's size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    loader = _FileLoader(con, str(path.resolve()))
    for chunk in chunks(path, batch_rows, workers):
        loader.add(chunk)
    return loader.finish()


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders contribute their loadable files in name order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and format_of(p)))
        else:
            found.append(path)
    return found
