"""DuckDB reads the files itself: each reader is a relation of (line_no, line, read_code,
read_reason), a Segment call as JSON text per row, for segment_spec.check_sql.

JSON Lines (optionally gzipped) are read as lines of text, so a malformed line becomes a
reject with its line number rather than an abort; CSV and Parquet files carry the
envelope as columns (camelCase as in the Segment Spec, or snake_case as in Segment's
warehouse exports), turned into a call's JSON in SQL. `properties`, `traits` and
`context` are JSON text or structs, and dotted columns such as `properties.order_id` nest.

Rows DuckDB's CSV reader cannot take (bytes that are not UTF-8, a CSV row with more fields
than the header) are kept by it in READ_REJECTS (store_rejects), with their line numbers;
`add_read_rejects` turns them into rejects and renumbers the lines read after them.
"""

from __future__ import annotations

import gzip
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from orchestration.ingest.segment_spec import OBJECT_FIELDS, read_json_columns

SNAKE_TO_CAMEL = {
    "message_id": "messageId",
    "anonymous_id": "anonymousId",
    "user_id": "userId",
    "previous_id": "previousId",
    "original_timestamp": "originalTimestamp",
}
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}

READ_REJECTS, READ_SCANS = "loader_read_rejects", "loader_read_scans"
_KEEP_REJECTS = f"ignore_errors = true, store_rejects = true, rejects_table = '{READ_REJECTS}', rejects_scan = '{READ_SCANS}'"


def format_of(path: Path) -> str | None:
    """jsonl, csv or parquet by the file's suffix (a trailing .gz is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lines(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """The file as a relation of calls. Also clears READ_REJECTS for this file's rejects."""
    fmt = format_of(path)
    if fmt is None:
        raise ValueError(f"{path}: unsupported file type; expected .jsonl, .ndjson, .csv or .parquet (text files may be .gz)")
    con.execute(f"drop table if exists {READ_REJECTS}; drop table if exists {READ_SCANS}")
    if fmt == "jsonl":
        return _jsonl(path)
    return _tabular(con, path, fmt)


def _jsonl(path: Path) -> str:
    return f"(select row_number() over () as line_no, line, null::varchar as read_code, null::varchar as read_reason from {text_lines(path)})"


def text_lines(path: Path) -> str:
    """A JSON Lines file as lines of text, one varchar each: no delimiter, quote or escape a
    JSON line could contain (a NUL byte, invalid in JSON, makes a second field and so a
    reject). Blank lines are rows too, so a streaming row_number() gives every line its
    number, as an editor shows it, in the file's order whatever the threads reading it."""
    return (f"read_csv({literal(str(path))}, columns = {{'line': 'varchar'}}, header = false, auto_detect = false, "
            f"delim = chr(0), quote = '', escape = '', {_KEEP_REJECTS})")


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _blocks(path: Path) -> Iterator[bytes]:
    with _open_bytes(path) as source:
        while block := source.read(1 << 20):
            yield block


@dataclass
class LineEnds:
    lines: int  # as an editor counts them: a last line without its newline counts too
    only_lf_or_crlf: bool  # else DuckDB's CSV reader would refuse the file (see lf_copy)


def line_ends(path: Path) -> LineEnds:
    """Counted a block at a time (bytes, not rows: memory stays flat)."""
    lf = crlf = cr = 0
    last = previous_end = b""
    for block in _blocks(path):
        lf += block.count(b"\n")
        if b"\r" in block:  # rare: count the CRs too
            cr += block.count(b"\r")
            crlf += block.count(b"\r\n")
        crlf += previous_end == b"\r" and block.startswith(b"\n")
        previous_end = last = block[-1:]
    lines = lf + (last not in (b"", b"\n"))
    return LineEnds(lines, cr == 0 or (cr == crlf == lf))


@contextmanager
def lf_copy(path: Path) -> Iterator[Path]:
    """A temporary copy of a JSON Lines file whose line ends DuckDB's CSV reader refuses
    (CRLF and LF mixed, or a lone CR): CRLF made LF, a lone CR (JSON whitespace at best) a
    space. A block at a time; gzip is read through."""
    with tempfile.TemporaryDirectory(prefix="throughline-load-") as folder:
        copy = Path(folder) / "lines.jsonl"
        with open(copy, "wb") as target:
            carry = b""
            for block in _blocks(path):
                block = carry + block
                carry = b"\r" if block.endswith(b"\r") else b""  # a CRLF cut in two by the block
                target.write(block[: len(block) - len(carry)].replace(b"\r\n", b"\n").replace(b"\r", b" "))
            target.write(carry.replace(b"\r", b" "))
        yield copy


def json_objects(paths: list[Path]) -> str:
    """DuckDB's own JSON Lines reader of these files, in order, every field of a call as a
    JSON column, and the file's name."""
    files = "[" + ", ".join(literal(str(p)) for p in paths) + "]"
    return (f"read_json({files}, format = 'newline_delimited', columns = {read_json_columns()}, "
            f"ignore_errors = true, filename = true)")


def _tabular(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> str:
    if fmt == "csv":
        # The header is line 1, as a spreadsheet numbers it.
        read = (f"read_csv({literal(str(path))}, header = true, all_varchar = true, delim = ',', quote = '\"', "
                f"escape = '\"', {_KEEP_REJECTS})")
        numbered = f"select row_number() over () + 1 as line_no, * from {read}"
    else:
        read = f"read_parquet({literal(str(path))}, file_row_number = true)"
        numbered = f"select file_row_number + 1 as line_no, * exclude (file_row_number) from {read}"
    columns = [(name, kind) for name, kind, *_ in con.execute(f"describe {numbered}").fetchall() if name != "line_no"]
    line, broken = _call_json(columns, empty_is_null=fmt == "csv")
    return f"""(
    select line_no, {line} as line,
           case when {broken} is not null then 'broken_json' end as read_code,
           'column ' || {broken} || ' is not valid JSON' as read_reason
    from ({numbered})
)"""


def _call_json(columns: list[tuple[str, str]], *, empty_is_null: bool) -> tuple[str, str]:
    """(the call's JSON object, the name of a JSON-text column that does not parse) of a row."""
    pairs: list[tuple[str, str]] = []
    nested: dict[str, tuple[str | None, list[tuple[str, str]]]] = {field: (None, []) for field in OBJECT_FIELDS}
    broken: list[str] = []
    for name, kind in columns:
        value = _identifier(name)
        if empty_is_null:
            value = f"nullif({value}, '')"
        key = SNAKE_TO_CAMEL.get(name, name)
        head, dot, rest = key.partition(".")
        if key in OBJECT_FIELDS:
            if kind == "VARCHAR":
                broken.append(f"case when {value} is not null and try(json({value})) is null then {literal(key)} end")
                value = f"try(json({value}))"
            else:
                value = f"to_json({value})"
            nested[key] = (value, nested[key][1])
        elif dot and head in OBJECT_FIELDS:
            nested[head][1].append((rest, value))
        else:
            pairs.append((key, value))
    for field, (base, dotted) in nested.items():
        if dotted:
            # Dotted columns win over the JSON column; a null one adds nothing (json_merge_patch drops nulls).
            patch = "json_object(" + ", ".join(f"{literal(rest)}, {value}" for rest, value in dotted) + ")"
            given = " or ".join([f"{base} is not null"] * (base is not None) + [f"{value} is not null" for _, value in dotted])
            pairs.append((field, f"case when {given} then json_merge_patch(coalesce({base or 'null'}, '{{}}'), {patch}) end"))
        elif base is not None:
            pairs.append((field, base))
    call = "json_object(" + ", ".join(f"{literal(key)}, {value}" for key, value in pairs) + ")"
    return call, ("coalesce(" + ", ".join(broken) + ")" if broken else "null::varchar")


def add_read_rejects(con: duckdb.DuckDBPyConnection, path: Path, checked: str, check: Callable[[str], str]) -> None:
    """Rows the CSV reader refused: renumber the rows read after them (the reader's
    row_number() skipped them), then add them to `checked` as rejects. `check(lines)` is
    the query that validates a relation of lines of this file."""
    if not con.execute(f"select count(*) from duckdb_tables() where table_name = '{READ_REJECTS}'").fetchall()[0][0]:
        return
    if not con.execute(f"select count(*) from {READ_REJECTS}").fetchall()[0][0]:
        return
    # A row numbered n lies after every refused line r_i (in order, i from 1) with r_i - i + 1 <= n.
    con.execute(f"""
        update {checked} set line_no = line_no + (select count(*) from (select line - row_number() over (order by line) + 1 as threshold from {READ_REJECTS}) where threshold <= {checked}.line_no),
                               seq = seq + (select count(*) from (select line - row_number() over (order by line) + 1 as threshold from {READ_REJECTS}) where threshold <= {checked}.line_no)
    """)
    refused = f"""(
    select line as line_no, csv_line as line,
        case when error_type in ('TOO MANY COLUMNS', 'MISSING COLUMNS') and {literal(format_of(path))} = 'csv' then 'bad_csv_row'
             when error_type = 'LINE SIZE OVER MAXIMUM' then 'oversize_call' else 'broken_json' end as read_code,
        case when error_type = 'INVALID ENCODING' then 'line is not valid UTF-8 text'
             when error_type = 'LINE SIZE OVER MAXIMUM' then 'line is longer than the reader''s limit: ' || error_message
             when error_type = 'TOO MANY COLUMNS' and {literal(format_of(path))} = 'csv' then 'row has more fields than the header'
             when error_type = 'MISSING COLUMNS' and {literal(format_of(path))} = 'csv' then 'row has fewer fields than the header'
             when error_type = 'TOO MANY COLUMNS' then 'line is not valid JSON: it holds a NUL byte'
             else 'line cannot be read: ' || error_message end as read_reason
    from {READ_REJECTS}
)"""
    con.execute(f"insert into {checked} {check(refused)}")
