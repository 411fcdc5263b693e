"""File outbox: each batch becomes one Parquet or CSV file in a directory, for
destinations that ingest files (SFTP drops, bucket imports) and for the demo.

Environment (prefix THROUGHLINE_OUTBOX by default):
  DIR         directory to write into (created if missing)
  FORMAT      parquet (default) or csv
  BATCH_SIZE  records per file, default 10,000

Files are named ``<operation>/<target>/<batch id>.<ext>``, the batch id derived
from the record keys, and written to a temporary name then renamed: a rerun
of the same batch replaces the file instead of adding a second copy, and a
reader never sees half a file. Columns: ``key`` plus one per field (nested
values as JSON text, so CSV and Parquet hold the same thing).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from connectors.base import (
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    Operation,
    OperationLimits,
    Record,
    RecordResult,
    WriteResult,
    chunked,
)
from connectors.config import EnvReader
from connectors.registry import register

FORMATS = ("parquet", "csv")


@register
class FileOutboxDestination(Destination):
    name = "file_outbox"
    capabilities = Capabilities(
        operations={operation: OperationLimits(max_records=10_000) for operation in Operation}
    )

    def __init__(self, directory: str | os.PathLike[str], *, file_format: str = "parquet", batch_size: int = 10_000):
        if file_format not in FORMATS:
            raise ConfigurationError(f"file_outbox: FORMAT must be one of {', '.join(FORMATS)}")
        self.directory = Path(directory)
        self.file_format = file_format
        self.batch_size = batch_size

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> FileOutboxDestination:
        reader = EnvReader(prefix or "THROUGHLINE_OUTBOX", env)
        return cls(
            reader.required("DIR"),
            file_format=(reader.text("FORMAT", "parquet") or "parquet").lower(),
            batch_size=reader.integer("BATCH_SIZE", 10_000),
        )

    def check(self) -> CheckResult:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".check-"):
                pass
        except OSError as error:
            return CheckResult(False, f"outbox directory is not writable ({error.strerror})")
        return CheckResult(True, f"outbox writes {self.file_format} files")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        return chunked(records, self.batch_size)

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        batch_id = _batch_id(records)
        folder = self.directory / operation.value / (target or "_")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{batch_id}.{self.file_format}"
        table = _table(records)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{batch_id}-")
        os.close(handle)
        try:
            if self.file_format == "parquet":
                pq.write_table(table, temporary)
            else:
                pa_csv.write_csv(table, temporary)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        result.requests += 1
        return [RecordResult.accepted(record.key, path.name) for record in records]


def _batch_id(records: Sequence[Record]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.key.encode("utf-8") + b"\x00")
    return digest.hexdigest()[:32]


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, default=str)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _table(records: Sequence[Record]) -> pa.Table:
    columns: list[str] = []
    for record in records:
        columns.extend(name for name in record.fields if name not in columns and name != "key")
    data: dict[str, list[Any]] = {"key": [record.key for record in records]}
    for name in columns:
        values = [_cell(record.fields.get(name)) for record in records]
        kinds = {type(v) for v in values if v is not None}
        # Mixed scalar types in one column (3 and "3") become text rather than fail.
        data[name] = [str(v) if v is not None else None for v in values] if len(kinds) > 1 else values
    return pa.table(data)
