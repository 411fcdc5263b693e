"""`throughline load`: files of Segment calls into raw.events and raw.rejects, set-based.

DuckDB reads each file itself (orchestration.ingest.readers) and validates every call in
one query (orchestration.ingest.segment_spec) into a temporary table of checked rows; two
inserts then move its accepted calls to raw.events and its rejects to raw.rejects, and a
row to raw.loads, in one transaction. No Python touches a row.

Idempotent by messageId: a call already in the warehouse (or earlier in the same file)
is counted as a duplicate and not inserted again. For every file,
rows read = loaded + duplicates + rejected.

On PostgreSQL the file is checked by an in-memory DuckDB the same way, and the checked
rows are copied to a temporary table there; the inserts are the same SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import duckdb
import pyarrow as pa

from orchestration.ingest import readers
from orchestration.ingest.readers import format_of
from orchestration.ingest.segment_spec import PAYLOAD, check_sql, fields_from_json_lines, fields_from_lines, reject_id
from orchestration.warehouse import Connection, PostgresConnection, stage, unstage

# DuckDB spills the checked rows past this, so memory stays flat whatever the file size.
LOADER_MEMORY_LIMIT = "256MB"

CHECKED = "loader_checked"
EVENT_COLUMNS = "message_id, type, event, name, user_id, anonymous_id, previous_id, occurred_at, properties, traits, context"

# Only calls whose message_id is new, keeping the first of any repeats in the file. The
# probe of raw.events reads every stored message_id (random uuids: no block can be
# skipped), once per file, with the file's calls as the hash table.
INSERT_NEW_EVENTS = f"""
insert into raw.events
select {EVENT_COLUMNS}, ?, ?, line_no, ?
from {CHECKED} as checked
where reason_code is null
  and line_no in (select min(line_no) from {CHECKED} where reason_code is null group by message_id)
  and not exists (select 1 from raw.events e where e.message_id = checked.message_id)
"""

INSERT_NEW_REJECTS = f"""
insert into raw.rejects
select reject_id, ?, ?, line_no, reason_code, reason, payload, ?
from {CHECKED} as checked
where reason_code is not null
  and not exists (select 1 from raw.rejects r where r.reject_id = checked.reject_id)
"""

COPY_BATCH_ROWS = 20_000  # checked rows per copy to PostgreSQL


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


def check_file(duck: duckdb.DuckDBPyConnection, path: Path, source_file: str) -> None:
    """Every row of the file, validated, into the temporary table CHECKED of `duck`."""
    duck.execute("set TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    if format_of(path) == "jsonl" and _check_objects(duck, path, source_file):
        return
    try:
        _check_lines(duck, path, source_file)
    except duckdb.InvalidInputException:
        if format_of(path) != "jsonl":
            raise
        # DuckDB's CSV reader refuses a file that mixes CRLF and LF line ends: read a copy with LF only.
        with readers.lf_copy(path) as copy:
            _check_lines(duck, copy, source_file)


def _check_lines(duck: duckdb.DuckDBPyConnection, path: Path, source_file: str) -> None:
    relation = readers.lines(duck, path)
    duck.execute(f"create or replace temporary table {CHECKED} as {check_sql(fields_from_lines(relation))}", [source_file])
    readers.add_read_rejects(duck, path, CHECKED, lambda lines: check_sql(fields_from_lines(lines)), [source_file])


def _check_objects(duck: duckdb.DuckDBPyConnection, path: Path, source_file: str) -> bool:
    """Check a JSON Lines file through DuckDB's JSON reader, which is about twice as fast as
    parsing its lines as text, when that gives the same rows: when the file is UTF-8, has no
    blank line (the reader skips them, so the numbers would shift) and every line is a JSON
    object with a Segment field (else the reader's row of nulls says nothing of why). False
    (and nothing checked) otherwise: the file is then checked line by line."""
    try:
        lines = duck.execute(f"select count(*) from {readers.text_lines(path, keep_rejects=False)}").fetchall()[0][0]
    except duckdb.Error:
        return False
    duck.execute(f"create or replace temporary table {CHECKED} as {check_sql(fields_from_json_lines(readers.json_objects(path)))}",
                 [source_file])
    rows, unread, rejected = duck.execute(
        f"select count(*), count(*) filter (where reason_code = 'broken_json'), count(reason_code) from {CHECKED}").fetchall()[0]
    if rows != lines or unread:
        duck.execute(f"drop table {CHECKED}")
        return False
    if rejected:  # their text, from the file's lines
        duck.execute(f"""
            update {CHECKED} set payload = text.payload, reject_id = text.reject_id
            from (select line_no, {PAYLOAD} as payload, {reject_id('?')} as reject_id
                  from (select row_number() over () as line_no, line from {readers.text_lines(path, keep_rejects=False)})
                  where line_no in (select line_no from {CHECKED} where reason_code is not null)) as text
            where text.line_no = {CHECKED}.line_no
        """, [source_file])
    return True


def _copy_checked(duck: duckdb.DuckDBPyConnection, pg: PostgresConnection) -> None:
    """CHECKED from DuckDB to a temporary table of the same name on PostgreSQL, a batch at a time."""
    pg.execute(f"drop table if exists {CHECKED}")
    batches = duck.sql(f"select * from {CHECKED}").fetch_arrow_reader(COPY_BATCH_ROWS)
    for batch in batches:
        table = pa.Table.from_batches([batch])
        table = table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                                               or f.type == pa.string_view() else f.type) for f in table.schema]))
        stage(pg, "loader_batch", table)
        if pg.execute(f"select to_regclass('pg_temp.{CHECKED}') is null").fetchone()[0]:
            pg.execute(f"create temporary table {CHECKED} as select * from loader_batch with no data")
        pg.execute(f"insert into {CHECKED} select * from loader_batch")
        unstage(pg, "loader_batch")


def _write(con: Connection, source_file: str, started_at: datetime) -> FileLoad:
    """CHECKED into the raw tables, in one transaction (a crash leaves the file unloaded)."""
    load_id = uuid.uuid4().hex
    params = [load_id, source_file, started_at]
    counts = FileLoad(source_file)
    con.execute("begin transaction")
    try:
        counts.rows_read, counts.rows_rejected = con.execute(f"select count(*), count(reason_code) from {CHECKED}").fetchone()
        con.execute(INSERT_NEW_REJECTS, params)
        counts.rows_loaded = con.execute(INSERT_NEW_EVENTS, params).fetchone()[0]
        counts.rows_duplicate = counts.rows_read - counts.rows_rejected - counts.rows_loaded
        con.execute(
            "insert into raw.loads values (?, ?, ?, ?, ?, ?, ?, ?)",
            [load_id, source_file, started_at, _now(), counts.rows_read, counts.rows_loaded, counts.rows_duplicate, counts.rows_rejected],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute(f"drop table if exists {CHECKED}")
    return counts


def load_file(con: Connection, path: Path) -> FileLoad:
    """Load one file; the raw tables must exist (see orchestration.warehouse.raw_layer)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    source_file, started_at = str(path.resolve()), _now()
    if isinstance(con, PostgresConnection):
        with duckdb.connect(config={"memory_limit": LOADER_MEMORY_LIMIT}) as duck:
            check_file(duck, path, source_file)
            _copy_checked(duck, con)
        return _write(con, source_file, started_at)
    with con.cursor() as session:  # its own session: the time zone set for the check stays there
        check_file(session, path, source_file)
        return _write(session, source_file, started_at)


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders contribute their loadable files in name order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and format_of(p)))
        else:
            found.append(path)
    return found
