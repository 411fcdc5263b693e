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
