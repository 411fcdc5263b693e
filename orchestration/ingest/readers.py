"""Streaming readers: each yields (line, call or RejectedCall, raw text) for one file.

JSON Lines (optionally gzipped), CSV and Parquet. Memory stays flat whatever the file
size: rows are read one at a time (Parquet: one row group batch at a time).

CSV and Parquet files carry the envelope as columns (camelCase as in the Segment Spec,
or snake_case as in Segment's warehouse exports). `properties`, `traits` and `context`
are JSON text or structs, and dotted columns such as `properties.order_id` nest.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import date, datetime
from pathlib import Path
from typing import Iterator, Union

import orjson
import pyarrow.parquet as pq

from orchestration.ingest.segment_spec import RejectedCall

Row = tuple[int, Union[dict, RejectedCall], str]

NESTED_FIELDS = ("properties", "traits", "context")
SNAKE_TO_CAMEL = {
    "message_id": "messageId",
    "anonymous_id": "anonymousId",
    "user_id": "userId",
    "previous_id": "previousId",
    "original_timestamp": "originalTimestamp",
}
PAYLOAD_LIMIT = 2000  # characters of an offending row kept in raw.rejects

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def format_of(path: Path) -> str | None:
    """jsonl, csv or parquet by the file's suffix (a trailing .gz is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".gz"]:
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def read_calls(path: Path) -> Iterator[Row]:
    fmt = format_of(path)
    if fmt is None:
        raise ValueError(f"{path}: unsupported file type; expected .jsonl, .ndjson, .csv or .parquet (text files may be .gz)")
    if fmt == "jsonl":
        return _read_jsonl(path)
    if fmt == "csv":
        return _read_csv(path)
    return _read_parquet(path)


def open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix.lower() == ".gz" else open(path, "rb")


def _read_jsonl(path: Path) -> Iterator[Row]:
    with open_binary(path) as lines:
        for number, line in enumerate(lines, start=1):
            row = jsonl_row(number, line)
            if row is not None:
                yield row


def jsonl_row(number: int, line: bytes) -> Row | None:
    """One line of a JSON Lines file; None for a blank line (skipped, though it keeps its number)."""
    if not line.strip():
        return None
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    try:
        return number, orjson.loads(line), text[:PAYLOAD_LIMIT]
    except orjson.JSONDecodeError as error:
        return number, RejectedCall("broken_json", f"line is not valid JSON: {error}"), text[:PAYLOAD_LIMIT]


def _read_csv(path: Path) -> Iterator[Row]:
    with open_binary(path) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=""))
        for record in reader:
            text = ",".join(v for v in record.values() if isinstance(v, str))[:PAYLOAD_LIMIT]
            if None in record:
                yield reader.line_num, RejectedCall("bad_csv_row", "row has more fields than the header"), text
                continue
            values = {key: (value if value != "" else None) for key, value in record.items()}
            yield reader.line_num, _envelope(values), text


def _read_parquet(path: Path) -> Iterator[Row]:
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        for record in batch.to_pylist():
            number += 1
            yield number, _envelope(record), orjson.dumps(record, default=str).decode()[:PAYLOAD_LIMIT]


def _envelope(columns: dict) -> dict | RejectedCall:
    """Columns of a tabular file to a Segment call: nest JSON and dotted columns."""
    call: dict = {}
    for key, value in columns.items():
        key = SNAKE_TO_CAMEL.get(key, key)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        if key in NESTED_FIELDS and isinstance(value, (str, bytes)):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as error:
                return RejectedCall("broken_json", f"column {key} is not valid JSON: {error}")
        head, dot, rest = key.partition(".")
        if dot and head in NESTED_FIELDS:
            if value is not None:
                target = call.setdefault(head, {})
                if not isinstance(target, dict):
                    return RejectedCall("bad_field_type", f"column {key} nests into {head}, which is not an object")
                target[rest] = value
        elif key in NESTED_FIELDS and isinstance(value, dict) and isinstance(call.get(key), dict):
            call[key] = {**value, **call[key]}
        else:
            call[key] = value
    return call
