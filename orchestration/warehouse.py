"""The warehouse connection and the raw layer that `throughline load` writes.

The raw tables keep each Segment call whole (JSON as text, which every warehouse can
store), so dbt staging owns all typing and nothing is lost at load time.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

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


def connect(path: Path | None = None, *, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    path = path or warehouse_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": memory_limit} if memory_limit else {}
    return duckdb.connect(str(path), config=config)


@contextmanager
def raw_layer(path: Path | None = None, *, memory_limit: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the raw tables in place, closed on exit so dbt can open the file."""
    con = connect(path, memory_limit=memory_limit)
    try:
        con.execute(RAW_TABLES_DDL)
        yield con
    finally:
        con.close()
