"""`throughline load`: files of Segment calls into raw.events and raw.rejects, set-based.

DuckDB reads the files itself (orchestration.ingest.readers; JSON Lines files a chunk of
files at a time) and validates every call in one query (orchestration.ingest.segment_spec)
into a temporary table of checked rows; two inserts then move the accepted calls to
raw.events and the rejects to raw.rejects, and each file gets its row in raw.loads. The
files of one load share a transaction. No Python touches a row.

Idempotent by messageId: a call already in the warehouse (or earlier in the same load)
is counted as a duplicate and not inserted again. For every file,
rows read = loaded + duplicates + rejected.

On PostgreSQL each file is checked by an in-memory DuckDB the same way, and the checked
rows are copied to temporary tables there; the inserts are the same SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import duckdb
import pyarrow as pa

from orchestration.ingest import readers
from orchestration.ingest.readers import format_of
from orchestration.ingest.segment_spec import PAYLOAD, REJECT_ID, check_sql, fields_from_json_lines, fields_from_lines
from orchestration.warehouse import Connection, PostgresConnection, stage, unstage

# DuckDB spills past this, so memory stays flat whatever the file size. A chunk's checked
# rows, its dedup and its probe fit in it; at 256 MB they spilled and a load took twice as long.
LOADER_MEMORY_LIMIT = "1GB"

# JSON Lines files are checked together, in one read_json, up to this many bytes: the
# probe of the stored message ids is then made once for them all, not once per file.
CHUNK_BYTES = 256 << 20

CHECKED = "loader_checked"  # the checked rows of a chunk of files
FILES = "loader_files"  # its files: source_file, line_offset (lines before it), load_id
EVENT_COLUMNS = "message_id, type, event, name, user_id, anonymous_id, previous_id, occurred_at, properties, traits, context"

# Only calls whose message_id is new, keeping the first of any repeats in the files (seq
# follows the files' order, then their lines). The probe of raw.events reads every stored
# message_id (random uuids: no block can be skipped), with the files' calls as the hash table.
INSERT_NEW_EVENTS = f"""
insert into raw.events
select {EVENT_COLUMNS}, files.load_id, checked.source_file, line_no, ?
from {CHECKED} as checked join {FILES} as files on files.source_file = checked.source_file
where reason_code is null
  and seq in (select min(seq) from {CHECKED} where reason_code is null group by message_id)
  and not exists (select 1 from raw.events e where e.message_id = checked.message_id)
"""

INSERT_NEW_REJECTS = f"""
insert into raw.rejects
select reject_id, files.load_id, checked.source_file, line_no, reason_code, reason, payload, ?
from {CHECKED} as checked join {FILES} as files on files.source_file = checked.source_file
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


def _chunks(paths: list[Path]) -> Iterator[list[Path]]:
    """Consecutive JSON Lines files together up to CHUNK_BYTES; any other file alone. A file
    given twice starts a new chunk: its second load finds the first's calls stored."""
    chunk: list[Path] = []
    size = 0
    for path in paths:
        if format_of(path) != "jsonl":
            yield from [chunk, [path]] if chunk else [[path]]
            chunk, size = [], 0
            continue
        if chunk and (size + path.stat().st_size > CHUNK_BYTES or path.resolve() in {p.resolve() for p in chunk}):
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += path.stat().st_size
    if chunk:
        yield chunk


def check_files(duck: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
    """Every row of the files, validated, into the temporary table CHECKED of `duck`, with
    FILES. Nothing here may raise on bad input: the load's transaction would be lost."""
    duck.execute("set TimeZone = 'UTC'")  # a timestamp without an offset is UTC
    ends = {path: readers.line_ends(path) if format_of(path) == "jsonl" else None for path in paths}
    offsets, offset = [], 0
    for path in paths:
        offsets.append(offset)
        offset += ends[path].lines if ends[path] else 0
    duck.execute(f"create or replace temporary table {FILES} (source_file varchar, line_offset bigint, load_id varchar)")
    duck.execute(f"insert into {FILES} select unnest(?), unnest(?), unnest(?)",
                 [[str(p.resolve()) for p in paths], offsets, [uuid.uuid4().hex for _ in paths]])
    if all(ends.values()) and all(e.only_lf_or_crlf for e in ends.values()) and _check_objects(duck, paths, CHECKED, ends):
        return
    # One file at a time, each the quicker way it allows.
    duck.execute(f"drop table if exists {CHECKED}")
    for path, line_offset in zip(paths, offsets):
        one = "loader_checked_file"
        if not (ends[path] and ends[path].only_lf_or_crlf and _check_objects(duck, [path], one, ends)):
            if ends[path] and not ends[path].only_lf_or_crlf:
                with readers.lf_copy(path) as copy:
                    _check_lines(duck, copy, str(path.resolve()), line_offset, one)
            else:
                _check_lines(duck, path, str(path.resolve()), line_offset, one)
        if duck.execute(f"select count(*) from duckdb_tables() where table_name = '{CHECKED}'").fetchall()[0][0]:
            duck.execute(f"insert into {CHECKED} select * from {one}")
            duck.execute(f"drop table {one}")
        else:
            duck.execute(f"alter table {one} rename to {CHECKED}")


def _check_lines(duck: duckdb.DuckDBPyConnection, path: Path, source_file: str, line_offset: int, table: str) -> None:
    relation = readers.lines(duck, path)
    check = lambda lines: check_sql(fields_from_lines(lines, source_file, line_offset))  # noqa: E731
    duck.execute(f"create or replace temporary table {table} as {check(relation)}")
    readers.add_read_rejects(duck, path, table, check)


def _check_objects(duck: duckdb.DuckDBPyConnection, paths: list[Path], table: str, ends: dict) -> bool:
    """Check JSON Lines files through DuckDB's JSON reader, which is faster than parsing
    their lines as text, when that gives the same rows: when no file has a blank line (the
    reader skips them, so the numbers would shift) and every line is a JSON object in UTF-8
    with a Segment field (else the reader's row of nulls says nothing of why). False (and
    nothing checked) otherwise."""
    names = ", ".join(readers.literal(str(p.resolve())) for p in paths)
    # Read alone, a file's lines are numbered from 0 in the read; read together, after the others'.
    read_offset = "0" if len(paths) == 1 else "line_offset"
    files = f"(select source_file, line_offset, {read_offset} as read_offset from {FILES} where source_file in ({names}))"
    duck.execute(f"create or replace temporary table {table} as "
                 f"{check_sql(fields_from_json_lines(readers.json_objects([p.resolve() for p in paths]), files))}")
    counts = duck.execute(f"select source_file, count(*), count(*) filter (where reason_code = 'broken_json'), count(reason_code) "
                          f"from {table} group by source_file").fetchall()
    lines = {str(p.resolve()): ends[p].lines for p in paths}
    read = {name: (rows, unread, rejected) for name, rows, unread, rejected in counts}
    if any(read.get(name, (0, 0, 0))[:2] != (expected, 0) for name, expected in lines.items()):
        duck.execute(f"drop table {table}")
        return False
    for path in paths:
        if read.get(str(path.resolve()), (0, 0, 0))[2]:  # its rejects' text, from the file's lines
            duck.execute(f"""
                update {table} set payload = text.payload, reject_id = text.reject_id
                from (select line_no, {PAYLOAD} as payload, {REJECT_ID} as reject_id
                      from (select ? as source_file, row_number() over () as line_no, line from {readers.text_lines(path)})
                      where line_no in (select line_no from {table} where source_file = ? and reason_code is not null)) as text
                where {table}.source_file = ? and text.line_no = {table}.line_no
            """, [str(path.resolve())] * 3)
    return True


def _copy_to_postgres(duck: duckdb.DuckDBPyConnection, pg: PostgresConnection) -> None:
    """CHECKED and FILES from DuckDB to temporary tables of the same names on PostgreSQL, a batch at a time."""
    for table in (CHECKED, FILES):
        pg.execute(f"drop table if exists {table}")
        for batch in duck.sql(f"select * from {table}").fetch_arrow_reader(COPY_BATCH_ROWS):
            batch = pa.Table.from_batches([batch])
            batch = batch.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                                          or f.type == pa.string_view() else f for f in batch.schema]))
            stage(pg, "loader_batch", batch)
            if pg.execute(f"select to_regclass('pg_temp.{table}') is null").fetchall()[0][0]:
                pg.execute(f"create temporary table {table} as select * from loader_batch with no data")
            pg.execute(f"insert into {table} select * from loader_batch")
            unstage(pg, "loader_batch")


def _write(con: Connection, started_at: datetime) -> list[FileLoad]:
    """CHECKED into the raw tables, with a row per file in raw.loads, in FILES' order."""
    try:
        con.execute(INSERT_NEW_REJECTS, [started_at])
        con.execute(INSERT_NEW_EVENTS, [started_at])
        files = con.execute(f"""
            select files.source_file, files.load_id, count(checked.seq), count(checked.reason_code)
            from {FILES} as files left join {CHECKED} as checked on checked.source_file = files.source_file
            group by files.source_file, files.load_id, files.line_offset order by files.line_offset, files.source_file
        """).fetchall()
        loaded = dict(con.execute(f"select load_id, count(*) from raw.events where load_id in (select load_id from {FILES}) "
                                  "group by load_id").fetchall())
        loads = []
        for source_file, load_id, read, rejected in files:
            counts = FileLoad(source_file, read, loaded.get(load_id, 0), read - rejected - loaded.get(load_id, 0), rejected)
            con.execute("insert into raw.loads values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [load_id, source_file, started_at, _now(), read, counts.rows_loaded, counts.rows_duplicate, rejected])
            loads.append(counts)
        return loads
    finally:
        con.execute(f"drop table if exists {CHECKED}")
        con.execute(f"drop table if exists {FILES}")


def load_files(con: Connection, paths: Iterable[Path]) -> list[FileLoad]:
    """Load files, in order, in one transaction: a crash or a file that cannot be read
    leaves none of them loaded (loading them again is safe), and DuckDB writes the new rows
    once, straight to the database file, instead of to its log and again at each file's
    commit. The raw tables must exist (see orchestration.warehouse.raw_layer)."""
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        if format_of(path) is None:
            raise ValueError(f"{path}: unsupported file type; expected .jsonl, .ndjson, .csv or .parquet (text files may be .gz)")
    postgres = isinstance(con, PostgresConnection)
    # DuckDB: its own session, so the time zone set for the checks stays there.
    session = con if postgres else con.cursor()
    loads: list[FileLoad] = []
    try:
        session.execute("begin transaction")
        for chunk in _chunks(paths):
            started_at = _now()
            if postgres:
                for path in chunk:  # checked by an in-memory DuckDB, a file at a time
                    with duckdb.connect(config={"memory_limit": LOADER_MEMORY_LIMIT}) as duck:
                        check_files(duck, [path])
                        _copy_to_postgres(duck, con)
                    loads += _write(con, started_at)
            else:
                check_files(session, chunk)
                loads += _write(session, started_at)
        session.execute("commit")
    except BaseException:
        session.execute("rollback")
        raise
    finally:
        if not postgres:
            session.close()
    return loads


def load_file(con: Connection, path: Path) -> FileLoad:
    """Load one file (see load_files)."""
    return load_files(con, [path])[0]


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; folders contribute their loadable files in name order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and format_of(p)))
        else:
            found.append(path)
    return found
