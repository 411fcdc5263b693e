"""Sync state in the warehouse, behind one small class.

Everything a sync reads or writes goes through `SyncStore`: the audience diff (set-based
SQL against `raw.sync_state`), state advanced per acknowledged batch, the delivery
ledger and its intents, runs and rejections. The SQL is plain ANSI plus the engine bits
kept in `Dialect` (a JSON object of columns, a list parameter, text): DuckDB's `Dialect`
and `PostgresDialect`, picked from the connection (orchestration.warehouse).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from connectors.pii import Platform, sql_prehash
from orchestration.syncs.spec import IDENTITY_FIELDS, SyncSpec
from orchestration.warehouse import Dialect, PostgresDialect, dialect as dialect_of  # noqa: F401 — Dialect re-exported

PLAN = "sync_plan"  # a temporary table: one run's diff
REMOVE_STEPS = ("unset", "remove")  # sent with the remove operation, first
ADD_STEPS = ("add", "change")
LEDGER_COLUMNS = (("action_id", "varchar"), ("status", "varchar"), ("sent_at", "timestamp"), ("destination", "varchar"),
                  ("provider_message_id", "varchar"), ("error", "varchar"), ("journey", "varchar"), ("step_id", "varchar"),
                  ("customer_id", "varchar"), ("channel", "varchar"), ("offer", "varchar"), ("recorded_at", "timestamp"))
INTENT_COLUMNS = (("action_id", "varchar"), ("sync_name", "varchar"), ("batch_id", "varchar"), ("position", "integer"),
                  ("payload", "varchar"), ("recorded_at", "timestamp"))
REJECTION_COLUMNS = (("run_id", "varchar"), ("sync_name", "varchar"), ("record_key", "varchar"), ("attributes_hash", "varchar"),
                     ("reason", "varchar"), ("vendor_code", "varchar"), ("rejected_at", "timestamp"))


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


@dataclass(frozen=True)
class Plan:
    kind: str  # first_sync | incremental | full_resync | cleanup
    current: int  # members in the model
    state: int  # members at the destination, as last acknowledged
    steps: dict[str, int]  # unset / remove / add / change -> rows
    skipped: int  # rows refused before and unchanged since

    @property
    def shrink_percent(self) -> float:
        return 100.0 * self.steps.get("remove", 0) / self.state if self.state else 0.0


class SyncStore:
    def __init__(self, con: Any, dialect: Dialect | None = None):
        self.con = con
        self.dialect = dialect or dialect_of(con)

    # ------------------------------------------------------------ transactions

    def transaction(self) -> _Transaction:
        return _Transaction(self.con)

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.con.execute(sql, list(params)).fetchone()[0]

    def insert_rows(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Insert `rows` ((name, type) `columns`) in one statement: DuckDB runs executemany
        as one statement per row, ~15 times slower for a batch of 100."""
        if rows:
            self.con.execute(f"insert into {table} ({', '.join(name for name, _ in columns)}) "
                             f"{self.dialect.rows_from_columns([t for _, t in columns])}", [list(c) for c in zip(*rows)])

    # ------------------------------------------------------------ audience diff

    def _payload_sql(self, spec: SyncSpec) -> tuple[str, str, str]:
        """(identity hash, attributes hash, fields JSON) expressions over the model's columns."""
        d = self.dialect
        pairs = [(name, _quote(column)) for name, column in spec.fields.items()]
        if spec.properties:
            pairs.append(("properties", d.json_object([(c, _quote(c)) for c in spec.properties])))

        def digest(columns: list[str]) -> str:
            parts = [f"coalesce({d.text(_quote(c))}, '\\N')" for c in columns] or ["''"]
            return "md5(" + " || chr(31) || ".join(parts) + ")"

        identity = [spec.fields[f] for f in IDENTITY_FIELDS if f in spec.fields] or [spec.key]
        every = [spec.key, *spec.fields.values(), *spec.properties]
        return digest(identity), digest(every), d.text(d.json_object(pairs))

    def _prehash_sql(self, spec: SyncSpec, prehash: Platform | None) -> tuple[str, str]:
        """(extra columns of the model's rows, the fields of a row to send over them as `c`).
        With `prehash`, identifiers DuckDB can hash by that platform's rules (pii.sql_prehash)
        are sent hashed, so the raw values reach neither Python nor raw.sync_state; only rows
        in the plan are hashed (an unchanged member costs nothing). The row hashes that find
        changes stay over the raw values."""
        if prehash is None or isinstance(self.dialect, PostgresDialect):  # PostgreSQL: the connector hashes
            return "", "c.fields"
        types = {c[0]: str(c[1]) for c in self.con.execute(f"select * from {spec.relation} limit 0").description}
        extra, patch = [], []
        for name, column in spec.fields.items():
            alias = f"c.prehash_{len(extra)}"
            expression = sql_prehash(name, alias, prehash) if types.get(column) == "VARCHAR" else None
            if expression:
                extra.append(f", {_quote(column)} as prehash_{len(extra)}")
                patch.append(f"'{name}', {expression}")
        if not patch:
            return "", "c.fields"
        # a null in the patch drops the key: the same to a connector as a null value
        return "".join(extra), self.dialect.text(f"json_merge_patch(c.fields, json_object({', '.join(patch)}))")

    def plan(self, spec: SyncSpec, *, full_resync: bool = False, cleanup: bool = False,
             prehash: Platform | None = None) -> Plan:
        """Diff the model against the acknowledged state into the temporary plan table."""
        identity, attributes, fields = self._payload_sql(spec)
        extra, sent_fields = self._prehash_sql(spec, None if cleanup else prehash)
        key = _quote(spec.key)
        self.con.execute(f"drop table if exists {PLAN}")
        current_rows = (
            f"select {self.dialect.text(key)} as member_key, {identity} as identity_hash, "
            f"{attributes} as attributes_hash, {fields} as fields{extra} from {spec.relation} where {key} is not null"
        )
        if cleanup:  # remove everything Throughline added; the model is not read
            current_rows = "select member_key, identity_hash, attributes_hash, fields from raw.sync_state where 1 = 0"
        refused_before = "0" if (full_resync or cleanup) else (
            "case when exists (select 1 from rejected r where r.record_key = p.member_key "
            "and r.attributes_hash = p.attributes_hash) then 1 else 0 end"
        )
        change_when = "c.attributes_hash <> s.attributes_hash" if not full_resync else "1 = 1"
        steps = []
        if spec.updates or full_resync:
            steps.append(f"select 'change' as step, c.member_key, c.identity_hash, c.attributes_hash, {sent_fields} as fields "
                         f"from current_rows c join state s on s.member_key = c.member_key where {change_when}")
            if spec.remove_operation is not None:
                steps.append("select 'unset' as step, s.member_key, s.identity_hash, s.attributes_hash, s.fields "
                             f"from current_rows c join state s on s.member_key = c.member_key "
                             f"where c.identity_hash <> s.identity_hash")
        steps.append(f"select 'add' as step, c.member_key, c.identity_hash, c.attributes_hash, {sent_fields} as fields "
                     "from current_rows c where not exists (select 1 from state s where s.member_key = c.member_key)")
        if (spec.removes or cleanup) and spec.remove_operation is not None:
            steps.append("select 'remove' as step, s.member_key, s.identity_hash, s.attributes_hash, s.fields "
                         "from state s where not exists (select 1 from current_rows c where c.member_key = s.member_key)")
        union = " union all ".join(steps)
        self.con.execute(
            f"create temporary table {PLAN} as "
            f"with current_rows as ({current_rows}), "
            f"state as (select member_key, identity_hash, attributes_hash, fields from raw.sync_state where sync_name = ?), "
            f"rejected as (select distinct record_key, attributes_hash from raw.sync_rejections where sync_name = ?), "
            f"steps as ({union}) "
            f"select row_number() over (order by case step when 'unset' then 1 when 'remove' then 2 when 'change' then 3 else 4 end, member_key) as seq, "
            f"p.*, {refused_before} as refused_before from steps p order by seq",  # stored in seq order: see plan_rows
            [spec.name, spec.name],
        )
        current = 0 if cleanup else self.scalar(f"select count(*) from {spec.relation} where {key} is not null")
        distinct = 0 if cleanup else self.scalar(f"select count(distinct {key}) from {spec.relation}")
        if distinct != current:
            raise ValueError(f"sync {spec.name}: {current - distinct:,} rows of {spec.relation} repeat a {spec.key}; "
                             f"a member must appear once (add a unique test on {spec.key} and fix the model)")
        state = self.scalar("select count(*) from raw.sync_state where sync_name = ?", [spec.name])
        counts = dict(self.con.execute(f"select step, count(*) from {PLAN} where refused_before = 0 group by step").fetchall())
        skipped = self.scalar(f"select count(*) from {PLAN} where refused_before = 1")
        kind = "cleanup" if cleanup else "full_resync" if full_resync else "first_sync" if state == 0 else "incremental"
        return Plan(kind, current, state, {s: counts.get(s, 0) for s in (*REMOVE_STEPS, *ADD_STEPS)}, skipped)

    def plan_rows(self, steps: Sequence[str], page: int = 10_000) -> Iterator[tuple[str, str, dict, int]]:
        """(step, member key, fields, seq) of the plan, in order (see plan_pages)."""
        for page_rows in self.plan_pages(steps, page):
            for step, member_key, fields, seq in page_rows:
                yield step, member_key, orjson.loads(fields), seq

    def plan_pages(self, steps: Sequence[str], page: int = 10_000) -> Iterator[list[tuple[str, str, str, int]]]:
        """(step, member key, fields JSON text, seq) of the plan, in order, a page at a time. A
        page is a range of seq: the plan is stored in seq order, so DuckDB reads only the row
        groups holding it and a page costs the same at any audience size (an offset or a
        top-N would scan the plan once per page). The steps asked for are contiguous in seq."""
        marks = ", ".join("?" for _ in steps)
        wanted = f"step in ({marks}) and refused_before = 0"
        first, end = self.con.execute(f"select min(seq), max(seq) from {PLAN} where {wanted}", list(steps)).fetchone()
        if first is None:
            return
        for start in range(first, end + 1, page):
            rows = self.con.execute(
                f"select step, member_key, fields, seq from {PLAN} where seq >= ? and seq < ? and {wanted} order by seq",
                [start, start + page, *steps],
            ).fetchall()
            if rows:
                yield rows

    def acknowledge(self, spec: SyncSpec, steps: Sequence[str], accepted: list[str], at: datetime,
                    seqs: tuple[int, int] | None = None, *, known: list[str] | None = None,
                    whole_range: bool = False) -> None:
        """Advance the state for accepted rows of these steps (one acknowledged batch).
        `seqs`, the batch's first and last seq, keeps the plan read to the batch's own row
        groups: without it every batch scans the whole plan, and a large sync is quadratic.
        `known`: the accepted keys that may have a state row to replace (default: all; an
        added member has none, so a first sync deletes nothing). `whole_range`: every row of
        these steps in `seqs` was accepted, so the range alone selects them."""
        if not accepted:
            return
        d = self.dialect
        known = accepted if known is None else known
        if known:
            self.con.execute(f"delete from raw.sync_state where sync_name = ? and {d.in_list('member_key')}", [spec.name, known])
        adds = [s for s in steps if s in ADD_STEPS]
        if adds:
            marks = ", ".join("?" for _ in adds)
            within, bounds = ("and seq between ? and ? ", list(seqs)) if seqs else ("", [])
            keys, listed = ("", []) if (whole_range and seqs) else (f"and {d.in_list('member_key')}", [accepted])
            self.con.execute(
                "insert into raw.sync_state (sync_name, member_key, identity_hash, attributes_hash, fields, synced_at) "
                f"select ?, member_key, identity_hash, attributes_hash, fields, ? from {PLAN} "
                f"where step in ({marks}) and refused_before = 0 {within}{keys}",
                [spec.name, at, *adds, *bounds, *listed],
            )

    def record_rejections(self, spec: SyncSpec, run_id: str, steps: Sequence[str],
                          rejected: list[tuple[str, str | None, str | None]], at: datetime) -> None:
        """(key, reason, vendor code) refused by the destination, with the row's hash, so
        the same unchanged row is skipped next time instead of refused again."""
        if not rejected:
            return
        marks = ", ".join("?" for _ in steps)
        hashes = dict(self.con.execute(
            f"select member_key, attributes_hash from {PLAN} where step in ({marks}) and {self.dialect.in_list('member_key')}",
            [*steps, [key for key, _, _ in rejected]],
        ).fetchall())
        self.insert_rows("raw.sync_rejections", REJECTION_COLUMNS,
                         [[run_id, spec.name, key, hashes.get(key), reason, code, at] for key, reason, code in rejected])

    # ------------------------------------------------------------ messages

    def unrecorded_actions(self, spec: SyncSpec) -> str:
        """A relation of the sync model's actions that the ledger has never seen."""
        return (f"(select * from {spec.relation} as m where not exists "
                f"(select 1 from raw.delivery_ledger as l where l.action_id = m.action_id))")

    def pending_intents(self, spec: SyncSpec) -> list[dict[str, Any]]:
        """Actions of this sync whose latest ledger row is pending, with their intent."""
        rows = self.con.execute(
            "with latest as (select action_id, status, error, row_number() over "
            "  (partition by action_id order by recorded_at desc) as write_rank from raw.delivery_ledger) "
            "select i.action_id, i.batch_id, i.position, i.payload, l.error "
            "from raw.delivery_intents i join latest l on l.action_id = i.action_id and l.write_rank = 1 "
            "where i.sync_name = ? and l.status = 'pending' order by i.recorded_at, i.batch_id, i.position",
            [spec.name],
        ).fetchall()
        return [{"action_id": a, "batch_id": b, "position": p, "fields": json.loads(payload), "error": e}
                for a, b, p, payload, e in rows]

    def write_intents(self, spec: SyncSpec, batch_id: str, actions: list[dict[str, Any]], at: datetime) -> None:
        """The pending ledger rows and their intents, in one transaction, before the send."""
        with self.transaction():
            self.insert_rows("raw.delivery_intents", INTENT_COLUMNS,
                             [[a["action_id"], spec.name, batch_id, i, json.dumps(a["fields"], default=str), at]
                              for i, a in enumerate(actions)])
            self.append_ledger([{**a, "status": "pending"} for a in actions], at)

    def append_ledger(self, rows: list[dict[str, Any]], at: datetime) -> None:
        self.insert_rows("raw.delivery_ledger", LEDGER_COLUMNS,
                         [[r["action_id"], r["status"], r.get("sent_at"), r.get("destination"), r.get("provider_message_id"),
                           r.get("error"), r.get("journey"), r.get("step_id"), r.get("customer_id"), r.get("channel"),
                           r.get("offer"), at] for r in rows])

    def ledger_context(self, action_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The journey columns of each action's latest ledger row (to repeat them on the next row)."""
        if not action_ids:
            return {}
        rows = self.con.execute(
            "select action_id, destination, journey, step_id, customer_id, channel, offer from ("
            "  select *, row_number() over (partition by action_id order by recorded_at desc) as write_rank "
            f"  from raw.delivery_ledger where {self.dialect.in_list('action_id')}) as l where write_rank = 1",
            [action_ids],
        ).fetchall()
        names = ("action_id", "destination", "journey", "step_id", "customer_id", "channel", "offer")
        return {row[0]: dict(zip(names, row)) for row in rows}

    def unresolved(self, spec: SyncSpec) -> dict[str, int]:
        """This sync's actions whose latest ledger state needs a person or a later run."""
        rows = self.con.execute(
            "with latest as (select action_id, status, row_number() over (partition by action_id order by recorded_at desc) "
            "as write_rank from raw.delivery_ledger) select l.status, count(*) from latest l "
            "where l.write_rank = 1 and l.status in ('pending', 'unknown') and exists "
            "(select 1 from raw.delivery_intents i where i.action_id = l.action_id and i.sync_name = ?) group by l.status",
            [spec.name],
        ).fetchall()
        return {"pending": 0, "unknown": 0, **dict(rows)}

    # ------------------------------------------------------------ runs

    def start_run(self, run_id: str, spec: SyncSpec, kind: str, at: datetime) -> None:
        self.con.execute(
            "insert into raw.sync_runs (run_id, sync_name, kind, status, started_at) values (?, ?, ?, 'running', ?)",
            [run_id, spec.name, kind, at],
        )

    def finish_run(self, run_id: str, status: str, counts: dict[str, int], at: datetime, message: str | None = None) -> None:
        names = ("added", "removed", "changed", "sent", "rejected", "retried", "skipped", "unknown", "deferred", "suppressed")
        self.con.execute(
            f"update raw.sync_runs set status = ?, finished_at = ?, message = ?, {', '.join(f'{n} = ?' for n in names)} where run_id = ?",
            [status, at, message, *(counts.get(n, 0) for n in names), run_id],
        )

    def last_runs(self) -> list[dict[str, Any]]:
        cursor = self.con.execute(
            "select * from (select *, row_number() over (partition by sync_name order by started_at desc) as run_rank "
            "from raw.sync_runs) as r where run_rank = 1 order by sync_name"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def last_run(self, sync_name: str) -> dict[str, Any] | None:
        cursor = self.con.execute(
            "select * from raw.sync_runs where sync_name = ? and status <> 'running' order by started_at desc limit 1", [sync_name])
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row)) if row else None


class _Transaction:
    def __init__(self, con: Any):
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("begin transaction")

    def __exit__(self, kind: object, *exc: object) -> None:
        self.con.execute("rollback" if kind else "commit")
