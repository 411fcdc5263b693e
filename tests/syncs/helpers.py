"""Helpers for the sync tests: sync declarations as dbt writes them into the manifest, and
sync models made directly as tables, so each test takes seconds (the dbt project's own
sync models run in tests/syncs/test_tick.py). Also imported by run_sync.py, the
subprocess the crash tests kill."""

from __future__ import annotations

import json

from orchestration.syncs.spec import MESSAGE_COLUMNS, SyncSpec, parse_sync
from orchestration.warehouse import raw_layer

AUDIENCE_COLUMNS = ["customer_id", "email", "phone", "first_name"]


def sync_node(name: str, sync: dict, columns: list[str], *, enforced: bool = True) -> dict:
    """A manifest node as dbt writes it for a model in models/syncs/."""
    return {
        "name": name, "unique_id": f"model.throughline.{name}", "resource_type": "model",
        "fqn": ["throughline", "syncs", name], "schema": "syncs", "alias": name,
        "config": {"contract": {"enforced": enforced}, "meta": {"sync": sync}},
        "columns": {c: {"name": c} for c in columns},
    }


def audience_spec(name: str = "champions_to_meta", destination: str = "meta", mode: str = "mirror", **extra) -> SyncSpec:
    target = {"meta": "THROUGHLINE_META_AUDIENCE_ID", "sendgrid": "THROUGHLINE_SENDGRID_LIST_ID"}[destination]
    sync = {"destination": destination, "operation": "audience", "mode": mode, "key": "customer_id", "target_env": target, **extra}
    return parse_sync(sync_node(name, sync, AUDIENCE_COLUMNS))


def message_spec(destination: str, name: str | None = None, **extra) -> SyncSpec:
    columns = [*MESSAGE_COLUMNS, "email", "phone", "external_id", "campaign_id"]
    sync = {"destination": destination, "operation": "messages", **extra}
    return parse_sync(sync_node(name or f"messages_to_{destination}", sync, columns))


def member(i: int, version: int = 0) -> tuple:
    return (f"cus_{i:07d}", f"person{i}@example.com", f"+1415555{i % 10000:04d}", f"Name{i}v{version}")


def write_audience(rows: list[tuple], table: str = "champions_to_meta") -> None:
    with raw_layer() as con:
        con.execute("create schema if not exists syncs")
        con.execute(f"drop table if exists syncs.{table}")
        con.execute(f"create table syncs.{table} (customer_id varchar, email varchar, phone varchar, first_name varchar)")
        con.executemany(f"insert into syncs.{table} values (?, ?, ?, ?)", rows)


TEMPLATE_OF = {"sendgrid": ("email", "welcome_newsletter"), "webhook": ("webhook", "crm_sales_lead"),
               "twilio": ("sms", "cart_reminder_sms"), "braze": ("push", "help_in_app"),
               "fcm": ("push", "help_in_app"), "hubspot": ("crm", "sales_task")}


def write_actions(destination: str, count: int, *, start: int = 0, bad: set[int] = frozenset()) -> list[str]:
    """`count` due actions for `destination` and the customers they go to; the customers in
    `bad` have no cart name, so an SMS template that needs one fails to render."""
    channel, template = TEMPLATE_OF[destination]
    table = f"syncs.messages_to_{destination}"
    with raw_layer() as con:
        con.execute("create schema if not exists syncs")
        con.execute("create schema if not exists marts")
        con.execute("create table if not exists marts.dim_customers (customer_id varchar, email varchar, phone varchar, "
                    "first_name varchar, company varchar, lead_score decimal(10, 2))")
        con.execute(f"create table if not exists {table} (action_id varchar, journey varchar, step_id varchar, customer_id varchar, "
                    "channel varchar, destination varchar, template varchar, offer varchar, context varchar, decided_at timestamp, "
                    "email varchar, phone varchar, external_id varchar, campaign_id varchar)")
        ids = []
        for i in range(start, start + count):
            customer = f"cus_{i:07d}"
            action = f"act_{destination}_{i:06d}"
            context = json.dumps({} if i in bad else {"name": "Canvas Tote", "cart_id": f"cart_{i}"})
            con.execute("insert into marts.dim_customers select ?, ?, ?, ?, ?, ? "
                        "where not exists (select 1 from marts.dim_customers where customer_id = ?)",
                        [customer, f"person{i}@example.com", f"+1415555{i % 10000:04d}", f"Name{i}", "Acme", 31.5, customer])
            con.execute(f"insert into {table} values (?, 'test_journey', 'step_1', ?, ?, ?, ?, null, ?, timestamp '2026-11-01', ?, ?, ?, ?)",
                        [action, customer, channel, destination, template, context, f"person{i}@example.com",
                         f"+1415555{i % 10000:04d}", customer, "demo-push-campaign"])
            ids.append(action)
    return ids


def ledger() -> dict[str, str]:
    """Each action's latest ledger status."""
    with raw_layer() as con:
        return dict(con.execute(
            "select action_id, status from (select *, row_number() over (partition by action_id order by recorded_at desc) as r "
            "from raw.delivery_ledger) as l where r = 1").fetchall())




def deliveries(local, destination: str) -> dict[str, int]:
    """How many times the destination received each action."""
    from collections import Counter

    server = local.servers[destination]
    with server.lock:
        if destination == "webhook":
            return dict(server.received)
        if destination == "sendgrid":
            return {key: len(messages) for key, messages in server.messages_by_key.items()}
        if destination == "braze":
            counts = Counter()
            for (_, _, action), times in server.sends.items():
                counts[action] += times
            return dict(counts)
        if destination == "hubspot":  # tasks name the action by objectWriteTraceId
            return dict(Counter(task["objectWriteTraceId"] for task in server.engagements["tasks"]))
        if destination == "twilio":  # each test customer has its own number: +1415555<i>
            return dict(Counter(f"act_twilio_{int(m['to'][-4:]):06d}" for m in server.messages))
    raise ValueError(destination)


def run_until_complete(spec, attempts: int = 6, **options):
    """Re-run a sync until nothing is left for a later run, as the schedule would."""
    from orchestration.syncs.runner import RunOptions, SyncIncomplete, run_sync

    reports = []
    for _ in range(attempts):
        try:
            reports.append(run_sync(spec, RunOptions(**options)))
            return reports
        except SyncIncomplete as incomplete:
            reports.append(incomplete.report)
    raise AssertionError(f"{spec.name} still incomplete after {attempts} runs: {reports[-1].tally()}")
