"""`throughline explain`: why did (or didn't) this customer get that message?

One chronological timeline per customer: events, segment changes, journey entries and
exits, every decision with its reason, and what the sync layer sent.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from orchestration.dbt.runner import in_process_dbt
from orchestration.settings import warehouse_path
from orchestration.warehouse import MISSING_RELATION, Connection, target

MAX_EVENTS = 60  # the most recent events shown; decisions and sends are always shown in full


def resolve_customer(con: Connection, reference: str) -> str | None:
    """A customer id, or any identifier of the customer (user id, email, phone, anonymous id)."""
    row = con.execute(
        "select customer_id from identity.int_identity__customer_map "
        "where customer_id = ? or identifier_value = ? or identifier_value = lower(trim(?)) limit 1",
        [reference, reference, reference],
    ).fetchone()
    return row[0] if row else None


def _rows(con: Connection, sql: str, params: list) -> list[tuple]:
    try:
        return con.execute(sql, params).fetchall()
    except MISSING_RELATION:  # a layer not built yet: nothing to show from it
        return []


def timeline(con: Connection, customer_id: str, journey: str | None = None) -> list[tuple[datetime, str, str]]:
    params = [customer_id, journey] if journey else [customer_id]
    only_journey = " and journey = ?" if journey else ""
    entries: list[tuple[datetime, str, str]] = []
    events = _rows(con, "select occurred_at, event_name, properties from journeys.int_journeys__events "
                        "where customer_id = ? order by occurred_at desc limit " + str(MAX_EVENTS), [customer_id])
    for at, name, properties in events:
        detail = ", ".join(f"{k}={v}" for k, v in (json.loads(properties) if properties else {}).items()
                           if not isinstance(v, (list, dict)))
        entries.append((at, "event", f"{name}" + (f" ({detail})" if detail else "")))
    for at, segment, change in _rows(con, "select changed_at, segment, change_type from marts.segment_changes where customer_id = ?", [customer_id]):
        entries.append((at, "segment", f"{change} {segment}"))
    for name, arm, entered, state, exited, reason, completed in _rows(
        con, "select journey, arm, entered_at, state, exited_at, exit_reason, completed_at from journeys.journey_instances "
             "where customer_id = ?" + only_journey, params):
        entries.append((entered, "journey", f"entered {name} ({arm} arm)"))
        if exited:
            entries.append((exited, "journey", f"{state} {name}: {reason}"))
        elif completed:
            entries.append((completed, "journey", f"completed {name}"))
    for name, step, status, code, reason, channel, scheduled, deferred in _rows(
        con, "select journey, step_id, status, reason_code, reason, channel, scheduled_at, deferred_until "
             "from journeys.journey_decisions where customer_id = ?" + only_journey, params):
        entries.append((scheduled, "decision", f"{name}/{step} [{channel}]: {status.upper()} ({code}) - {reason}"))
    for name, step, status, at, destination, provider_id, error in _rows(
        con, "select journey, step_id, status, coalesce(sent_at, recorded_at), destination, provider_message_id, error "
             "from raw.delivery_ledger where customer_id = ?" + only_journey, params):
        detail = f" id {provider_id}" if provider_id else (f": {error}" if error else "")
        entries.append((at, "delivery", f"{name}/{step} {status} via {destination}{detail}"))
    return sorted(entries)  # by time, then kind, then text: ties read the same on every run and engine


def explain(con: Connection, reference: str, journey: str | None = None, now: str | None = None) -> str:
    customer_id = resolve_customer(con, reference)
    if customer_id is None:
        return f"No customer has the identifier {reference!r}."
    profile = _rows(con, "select lifecycle_stage, email, timezone, has_email_consent, has_sms_consent, has_push_consent "
                         "from marts.dim_customers where customer_id = ?", [customer_id])
    lines = [f"Customer {customer_id}" + (f" (matched {reference})" if reference != customer_id else "")]
    if profile:
        stage, email, tz, email_ok, sms_ok, push_ok = profile[0]
        consent = ", ".join(c for c, ok in (("email", email_ok), ("sms", sms_ok), ("push", push_ok)) if ok) or "none"
        lines.append(f"  lifecycle {stage}; email {email or '-'}; time zone {tz or 'unknown'}; consent: {consent}")
    lines.append(f"Timeline (UTC){' for journey ' + journey if journey else ''}{', decided as of ' + now if now else ''}:")
    cutoff = datetime.fromisoformat(now) if now else None
    for at, kind, text in timeline(con, customer_id, journey):
        if cutoff and at > cutoff:
            continue
        lines.append(f"  {at:%Y-%m-%d %H:%M}  {kind:<8}  {text}")
    return "\n".join(lines)


@contextmanager
def decided_as_of(now: str) -> Iterator[Path]:
    """A copy of the warehouse with the journey models rebuilt as of `now`, so explaining
    the past never changes the warehouse that syncs read."""
    if target() != "duckdb":
        raise RuntimeError("explain --at copies the warehouse file, so it needs THROUGHLINE_TARGET=duckdb for now")
    with tempfile.TemporaryDirectory(prefix="throughline-explain-") as folder:
        copy = Path(folder) / "warehouse.duckdb"
        shutil.copy(warehouse_path(), copy)
        result = in_process_dbt().invoke(["run", "--select", "+journey_decisions"], target_path=Path(folder) / "target",
                                         env={"THROUGHLINE_WAREHOUSE": str(copy)}, variables={"now": now},
                                         artifacts=False)
        if not result.success:
            raise RuntimeError(f"rebuilding the journeys as of {now} failed:\n{result.output[-3000:]}")
        yield copy
