"""The warehouse connection and the raw layer that `throughline load` writes.

The raw tables keep each Segment call whole (JSON as text, which every warehouse can
store), so dbt staging owns all typing and nothing is lost at load time.

Two engines, one small interface: `connect()` gives a DuckDB connection, or with
THROUGHLINE_TARGET=postgres a `PostgresConnection` that speaks the part of DuckDB's
connection API the project uses (execute with `?` parameters, executemany, fetchone /
fetchall / description). `stage()` makes an Arrow table queryable by name on either, and
`dialect()` says how the two engines' SQL differs where the sync layer needs it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import duckdb
import psycopg
import pyarrow as pa
from psycopg.types.string import TextLoader

from orchestration.settings import warehouse_path

RAW_SCHEMA = "raw"

RAW_TABLES_DDL = f"""
create schema if not exists {RAW_SCHEMA};

-- One row per accepted Segment call; message_id is unique (the loader dedupes on it).
create table if not exists {RAW_SCHEMA}.events (
    message_id    varchar   not null,
    type          varchar   not null,   -- track | identify | page | alias
    event         varchar,              -- track: the event name
    name          varchar,              -- page: the page name
    user_id       varchar,
    anonymous_id  varchar,
    previous_id   varchar,              -- alias: the identity being merged into user_id
    occurred_at   timestamp not null,   -- the call's `timestamp`, converted to UTC
    properties    varchar,              -- JSON text
    traits        varchar,              -- JSON text
    context       varchar,              -- JSON text (timezone, device, page, ...)
    load_id       varchar   not null,
    source_file   varchar   not null,
    source_line   bigint    not null,
    loaded_at     timestamp not null
);

-- Rows the loader could not accept, with the reason; reject_id makes reloads idempotent.
create table if not exists {RAW_SCHEMA}.rejects (
    reject_id     varchar   not null,
    load_id       varchar   not null,
    source_file   varchar   not null,
    source_line   bigint    not null,
    reason_code   varchar   not null,
    reason        varchar   not null,
    payload       varchar,              -- the offending row, truncated
    rejected_at   timestamp not null
);

-- The delivery ledger: one row per journey action the sync layer handled, written before
-- the send (pending) and updated with the outcome. Journeys read it: steps advance from
-- it, frequency caps count it, and an action in it is never due again.
create table if not exists {RAW_SCHEMA}.delivery_ledger (
    action_id            varchar   not null,   -- deterministic: journey, customer, instance, step
    status               varchar   not null,   -- pending | sent | failed | unknown | suppressed
    sent_at              timestamp,            -- when the destination accepted it (UTC)
    destination          varchar,
    provider_message_id  varchar,
    error                varchar,              -- why it failed or was suppressed
    journey              varchar,
    step_id              varchar,
    customer_id          varchar,
    channel              varchar,
    offer                varchar,
    recorded_at          timestamp not null    -- when this row was last written (UTC)
);

-- What destinations report back: deliveries, opens, clicks, bounces, complaints,
-- unsubscribes. Hard bounces, complaints and unsubscribes suppress the channel.
create table if not exists {RAW_SCHEMA}.delivery_events (
    event_id      varchar   not null,
    provider      varchar   not null,
    event_type    varchar   not null,   -- delivered | open | click | hard_bounce | soft_bounce | complaint | unsubscribe | dropped
    channel       varchar   not null,   -- email | sms | push | ...
    address       varchar,              -- the email address or phone number it concerns
    action_id     varchar,
    customer_id   varchar,
    occurred_at   timestamp not null,
    payload       varchar               -- the provider's record, as JSON text
);

-- Sync state (orchestration/syncs, docs/syncs.md). Each audience as its destination last
-- acknowledged it: the next run sends only the difference.
create table if not exists {RAW_SCHEMA}.sync_state (
    sync_name        varchar   not null,
    member_key       varchar   not null,
    identity_hash    varchar   not null,   -- of the fields that say who the member is
    attributes_hash  varchar   not null,   -- of every synced field
    fields           varchar   not null,   -- the record as sent, JSON text (a removal resends it)
    synced_at        timestamp not null
);

-- What a message sync was about to send, written with the ledger's pending row: a crashed
-- run's batch is resent as it was (same records, same idempotency keys) or marked unknown.
create table if not exists {RAW_SCHEMA}.delivery_intents (
    action_id    varchar   not null,
    sync_name    varchar   not null,
    batch_id     varchar   not null,
    position     integer   not null,   -- order within the batch
    payload      varchar   not null,   -- the record's fields, JSON text
    recorded_at  timestamp not null
);

-- One row per sync run, with its counts.
create table if not exists {RAW_SCHEMA}.sync_runs (
    run_id       varchar   not null,
    sync_name    varchar   not null,
    kind         varchar   not null,   -- first_sync | incremental | full_resync | cleanup | messages
    status       varchar   not null,   -- running | succeeded | failed | refused
    started_at   timestamp not null,
    finished_at  timestamp,
    added        bigint, removed bigint, changed bigint, sent bigint, rejected bigint,
    retried      bigint, skipped bigint, unknown bigint, deferred bigint, suppressed bigint,
    message      varchar               -- why it failed or was refused
);

-- Rows a destination refused, with its reason; an unchanged row is not offered again.
create table if not exists {RAW_SCHEMA}.sync_rejections (
    run_id           varchar   not null,
    sync_name        varchar   not null,
    record_key       varchar   not null,
    attributes_hash  varchar,
    reason           varchar,
    vendor_code      varchar,
    rejected_at      timestamp not null
);

-- One row per file per load: the counts `throughline load` printed.
create table if not exists {RAW_SCHEMA}.loads (
    load_id         varchar   not null,
    source_file     varchar   not null,
    started_at      timestamp not null,
    finished_at     timestamp not null,
    rows_read       bigint    not null,
    rows_loaded     bigint    not null,
    rows_duplicate  bigint    not null,
    rows_rejected   bigint    not null
);
"""


class Dialect:
    """DuckDB's SQL where the engines differ, for the Python that writes SQL (sync store,
    phone step). dbt models get the same through adapter-dispatched macros."""

    raw_indexes = ""  # DDL run after the raw tables are created

    def json_object(self, pairs: Sequence[tuple[str, str]]) -> str:
        return "json_object(" + ", ".join(f"'{name}', {expr}" for name, expr in pairs) + ")"

    def in_list(self, column: str) -> str:
        """`column` is one of a list passed as a single parameter."""
        return f"{column} in (select unnest(cast(? as varchar[])))"

    def text(self, expr: str) -> str:
        return f"cast({expr} as varchar)"

    def json_text(self, column: str, key: str) -> str:
        """The text at top-level `key` of JSON text `column` (as the dbt macro json_text)."""
        return f"json_extract_string({column}, '$.{key}')"

    def ordered_list(self, expr: str, order_by: str) -> str:
        """An aggregate: the values of `expr` as a list (a Python list when fetched)."""
        return f"list({expr} order by {order_by})"

    def rows_from_columns(self, types: Sequence[str]) -> str:
        """A select of rows given column by column, each column one list parameter: one
        statement per batch instead of one per row."""
        return "select " + ", ".join(f"unnest(cast(? as {t}[]))" for t in types)


class PostgresDialect(Dialect):
    # Lookups the loader and the sync layer make on every batch. DuckDB scans its columnar
    # tables fast enough without (and pays for indexes on every insert); PostgreSQL would
    # scan the whole heap each time.
    raw_indexes = """
    create index if not exists events_message_id on raw.events (message_id);
    create index if not exists rejects_reject_id on raw.rejects (reject_id);
    create index if not exists delivery_ledger_action_id on raw.delivery_ledger (action_id);
    create index if not exists sync_state_member on raw.sync_state (sync_name, member_key);
    """

    def json_object(self, pairs: Sequence[tuple[str, str]]) -> str:
        return "json_build_object(" + ", ".join(f"'{name}', {expr}" for name, expr in pairs) + ")"

    def in_list(self, column: str) -> str:
        return f"{column} = any(?)"  # psycopg sends a Python list as an array

    def rows_from_columns(self, types: Sequence[str]) -> str:
        return "select * from unnest(" + ", ".join(f"cast(? as {t}[])" for t in types) + ")"

    def text(self, expr: str) -> str:
        return f"cast({expr} as text)"

    def json_text(self, column: str, key: str) -> str:
        return f"(cast({column} as jsonb) ->> '{key}')"

    def ordered_list(self, expr: str, order_by: str) -> str:
        return f"array_agg({expr} order by {order_by})"


def target() -> str:
    """`duckdb` (default) or `postgres`: the same variable selects the dbt profile's output."""
    return os.environ.get("THROUGHLINE_TARGET", "duckdb")


class _Result:
    """A finished statement, read like DuckDB's: a statement with no rows (insert,
    update, delete) reads as one row holding the count it changed, as DuckDB's does."""

    def __init__(self, cursor: Any):
        self.description = cursor.description
        self._rows = cursor.fetchall() if cursor.description else [(cursor.rowcount,)]

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return self._rows


class PostgresConnection:
    """psycopg 3 in autocommit, so `begin transaction` / `commit` statements behave as on
    DuckDB. Connection settings come from THROUGHLINE_PG_* (the password never logged)."""

    description: Any = None  # of the last statement, as DuckDB's connection has it

    def __init__(self) -> None:
        env = os.environ
        self.raw = psycopg.connect(
            host=env.get("THROUGHLINE_PG_HOST", "localhost"),
            port=int(env.get("THROUGHLINE_PG_PORT", "5432")),
            user=env.get("THROUGHLINE_PG_USER", "throughline"),
            password=env.get("THROUGHLINE_PG_PASSWORD") or None,
            dbname=env.get("THROUGHLINE_PG_DATABASE", "throughline"),
            autocommit=True,
            # Timestamps in the warehouse are UTC without a time zone, as on DuckDB.
            options="-c timezone=UTC",
        )
        # JSON comes back as its text, as from DuckDB: the callers parse it themselves.
        for json_type in ("json", "jsonb"):
            self.raw.adapters.register_loader(json_type, TextLoader)

    @staticmethod
    def _sql(sql: str) -> str:
        # DuckDB's `?` placeholders as psycopg's `%s` (a literal % doubled). The project's
        # SQL has no `?` inside string literals nor PostgreSQL's jsonb `?` operator.
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Result:
        with self.raw.cursor() as cursor:
            cursor.execute(self._sql(sql) if params else sql, params or None)
            result = _Result(cursor)
        self.description = result.description
        return result

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> "PostgresConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Connection = duckdb.DuckDBPyConnection | PostgresConnection

# What a query of a table that does not exist (a layer not built yet) raises, on either engine.
MISSING_RELATION = (duckdb.CatalogException, psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName)

_PG_TYPES = {pa.null(): "text", pa.string(): "text", pa.large_string(): "text", pa.int64(): "bigint", pa.int32(): "integer",
             pa.bool_(): "boolean", pa.float64(): "double precision", pa.timestamp("us"): "timestamp"}


def stage(con: Connection, name: str, table: pa.Table) -> None:
    """Make `table` queryable as `name` for the statements that follow: a view of the Arrow
    table on DuckDB (no copy), a temporary table filled by COPY on PostgreSQL."""
    if not isinstance(con, PostgresConnection):
        con.register(name, table)
        return
    columns = ", ".join(f'"{field.name}" {_PG_TYPES[field.type]}' for field in table.schema)
    con.execute(f"drop table if exists {name}")
    con.execute(f"create temporary table {name} ({columns})")
    with con.raw.cursor() as cursor, cursor.copy(f"copy {name} from stdin") as copy:
        for row in zip(*(column.to_pylist() for column in table.columns)):
            copy.write_row(row)


def unstage(con: Connection, name: str) -> None:
    if isinstance(con, PostgresConnection):
        con.execute(f"drop table if exists {name}")
    else:
        con.unregister(name)


def dialect(con: Connection) -> Dialect:
    return PostgresDialect() if isinstance(con, PostgresConnection) else Dialect()


def connect(path: Path | None = None, *, memory_limit: str | None = None, read_only: bool = False) -> Connection:
    """The warehouse THROUGHLINE_TARGET selects; `path`, `memory_limit` and `read_only`
    (many readers of one file at once) are DuckDB's."""
    if target() == "postgres":
        return PostgresConnection()
    path = path or warehouse_path()
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": memory_limit} if memory_limit else {}
    return duckdb.connect(str(path), config=config)


@contextmanager
def raw_layer(path: Path | None = None, *, memory_limit: str | None = None) -> Iterator[Connection]:
    """A connection with the raw tables in place, closed on exit so dbt can open the file."""
    con = connect(path, memory_limit=memory_limit)
    try:
        con.execute(RAW_TABLES_DDL + dialect(con).raw_indexes)
        yield con
    finally:
        con.close()
