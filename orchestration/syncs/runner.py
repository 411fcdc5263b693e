"""Running one sync: plan it, refuse it if unsafe, deliver it batch by batch, record it.

Audience-like syncs (audience, profiles, events) send the diff between the model and the
state the destination last acknowledged; the state advances after each acknowledged
batch, so a run that stops resumes where it stopped.

Message syncs go through the delivery ledger: each batch is written as intents (ledger
`pending`) before it is sent, then acknowledged as `sent`, `failed` or `unknown`. A run
first resolves what an earlier run left pending: resent as it was (same records, same
idempotency keys) where the destination deduplicates or the earlier answer proved it
was not delivered; otherwise marked `unknown`, never blindly resent.

`plan_sync` is the same logic with nothing sent and nothing written: `throughline preview`.
"""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connectors import AuthenticationError, ConfigurationError, Destination, Operation, Record, RecordStatus, create
from connectors.base import chunked
from connectors.redaction import scrub
from orchestration.syncs.delivery_events import add_delivery_events, delivery_event
from orchestration.syncs.spec import SyncSpec
from orchestration.syncs.store import ADD_STEPS, REMOVE_STEPS, Plan, SyncStore

RETRYABLE_MARK = "retryable: "  # a pending row with this error was provably not delivered
IN_FLIGHT_UNKNOWN = ("in flight when an earlier run stopped; {destination} cannot deduplicate a resend, "
                     "so it is not sent again (check the destination before resending by hand)")
MESSAGE_BATCH = 100  # default intents per batch: what one crash can leave unknown
# DuckDB's buffer pool for a sync: the plan spills to disk past it, so a sync's memory does
# not grow with the audience (the Python side holds two batches).
SYNC_MEMORY_LIMIT = "512MB"
SAMPLE_SIZE = 10
CRASH_AT = "THROUGHLINE_SYNC_CRASH_AT"  # fault injection for tests: "phase" or "phase:n"

DestinationFactory = Callable[[SyncSpec], Destination]


class SyncRefused(Exception):
    """A run that would be unsafe: nothing was sent."""

    report: SyncReport | None = None


class SyncIncomplete(Exception):
    """Some rows could not be delivered this run; the next run resumes them."""

    def __init__(self, message: str, report: SyncReport):
        super().__init__(message)
        self.report = report


@dataclass
class RunOptions:
    full_resync: bool = False  # resend every member, rebuilding the state from the answers
    cleanup: bool = False  # remove every member Throughline added (retiring a mirror sync)
    confirm_shrink: bool = False  # apply a run the shrink guard would refuse
    now: datetime | None = None  # the decision clock for sent_at; the current time by default


@dataclass
class SyncReport:
    sync: str
    destination: str
    kind: str
    run_id: str = ""
    status: str = "running"
    counts: Counter = field(default_factory=Counter)
    duration_seconds: float = 0.0
    rejected_sample: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)

    COUNTS = ("added", "removed", "changed", "sent", "rejected", "retried", "skipped", "unknown", "deferred", "suppressed")

    def tally(self) -> dict[str, int]:
        return {name: int(self.counts.get(name, 0)) for name in self.COUNTS}


def default_destination(spec: SyncSpec) -> Destination:
    return create(spec.destination, prefix=spec.env_prefix)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class _Clock:
    """Wall-clock times that strictly increase within a run: the ledger's latest row wins
    by recorded_at, so two rows for one action must never tie."""

    def __init__(self) -> None:
        self.last = datetime.min

    def __call__(self) -> datetime:
        now = _utcnow()
        self.last = now if now > self.last else self.last + timedelta(microseconds=1)
        return self.last


_crash_counts: Counter = Counter()


def crash_point(phase: str) -> None:
    """Tests set THROUGHLINE_SYNC_CRASH_AT=phase[:n] to SIGKILL the sync at the n-th time
    it reaches `phase`: intents_written, sent, acknowledged (messages); batch_sent,
    batch_acknowledged (audiences)."""
    wanted = os.environ.get(CRASH_AT)
    if not wanted:
        return
    name, _, nth = wanted.partition(":")
    if name != phase:
        return
    _crash_counts[phase] += 1
    if _crash_counts[phase] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _mask(value: Any) -> str:
    """An address shown to an operator: enough to recognise, not to copy."""
    text = str(value or "")
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    return (text[:3] + "***" + text[-2:]) if len(text) > 6 else "***"


# ---------------------------------------------------------------------------- audiences


class AudienceSync:
    def __init__(self, spec: SyncSpec, store: SyncStore, options: RunOptions):
        self.spec, self.store, self.options = spec, store, options
        self.clock = _Clock()

    def plan(self, destination: Destination | None = None) -> Plan:
        # A destination that hashes identifiers gets them hashed in the warehouse where it
        # can (faster, and the raw values stay out of Python and of raw.sync_state); the
        # preview plans without, to show operators masked addresses.
        prehash = destination.hashes_identifiers if destination is not None else None
        return self.store.plan(self.spec, full_resync=self.options.full_resync, cleanup=self.options.cleanup,
                               prehash=prehash)

    def refusal(self, plan: Plan) -> str | None:
        spec = self.spec
        if plan.kind == "cleanup" or self.options.confirm_shrink or not spec.removes or plan.state == 0:
            return None
        if plan.shrink_percent > spec.max_shrink_percent:
            return (f"sync {spec.name} refused: the audience would shrink by {plan.shrink_percent:.1f}% "
                    f"({plan.steps['remove']:,} of {plan.state:,} members removed), more than its max_shrink_percent "
                    f"of {spec.max_shrink_percent:g}%. Nothing was sent. If the drop is expected, run it once with "
                    f"`throughline tick --confirm-shrink {spec.name}` (Dagster: run config confirm_shrink: true); "
                    f"otherwise fix {spec.relation}.")
        return None

    def preview(self, sample: int = SAMPLE_SIZE) -> dict[str, Any]:
        plan = self.plan()
        rows: dict[str, list[str]] = {step: [] for step in (*REMOVE_STEPS, *ADD_STEPS)}
        for step in rows:
            for _, key, fields, _ in self.store.plan_rows([step], page=sample):
                if len(rows[step]) >= sample:
                    break
                who = ", ".join(f"{k}={_mask(v)}" for k, v in fields.items() if k in ("email", "phone") and v)
                rows[step].append(f"{key}" + (f" ({who})" if who else ""))
        return {
            "kind": plan.kind, "members_in_model": plan.current, "members_at_destination": plan.state,
            "add": plan.steps["add"], "change": plan.steps["change"], "remove": plan.steps["remove"],
            "replace_identity": plan.steps["unset"], "skipped": plan.skipped, "refused": self.refusal(plan),
            "sample": {step: keys for step, keys in rows.items() if keys},
        }

    def planned_keys(self) -> dict[str, set[str]]:
        """Every key the next run would send, by step (preview tests compare it with the run)."""
        self.plan()
        return {step: {key for _, key, _, _ in self.store.plan_rows([step])} for step in (*REMOVE_STEPS, *ADD_STEPS)}

    def run(self, destination: Destination, report: SyncReport) -> None:
        plan = self.plan(destination)
        report.kind = plan.kind
        report.counts["skipped"] += plan.skipped
        report.plan = {"add": plan.steps["add"], "change": plan.steps["change"], "remove": plan.steps["remove"]}
        refused = self.refusal(plan)
        if refused:
            raise SyncRefused(refused)
        target = self.spec.resolved_target()
        if self.spec.remove_operation is not None and (plan.steps["unset"] or plan.steps["remove"]):
            self._stream(destination, self.spec.remove_operation, REMOVE_STEPS, target, report)
        if plan.steps["add"] or plan.steps["change"]:
            self._stream(destination, self.spec.add_operation, ADD_STEPS, target, report)

    def _stream(self, destination: Destination, operation: Operation, steps: tuple[str, ...], target: str | None,
                report: SyncReport) -> None:
        # (step, seq) of each record handed out and not yet answered: the destination answers
        # one result per record, in order, so a batch's are the next len(results).
        handed_out: deque[tuple[str, int]] = deque()

        def records() -> Iterator[Record]:
            # a page at a time: one list of records per 10,000 rows rather than a generator step per row
            for page in self.store.plan_pages(steps):
                handed_out.extend((step, seq) for step, _, _, seq in page)
                yield from [Record(key, orjson.loads(fields)) for _, key, fields, _ in page]

        for batch in self._batches(destination, operation, records(), target):
            crash_point("batch_sent")
            rows = [handed_out.popleft() for _ in batch.results]
            if all(result.status is RecordStatus.ACCEPTED for result in batch.results):  # the usual answer
                accepted = [result.key for result in batch.results]
                rejected: list[tuple[str, str | None, str | None]] = []
                done = Counter(step for step, _ in rows)
                known = [key for key, (step, _) in zip(accepted, rows, strict=True) if step != "add"]
            else:
                accepted, known, rejected = [], [], []
                done = Counter()
                for result, (step, _) in zip(batch.results, rows, strict=True):
                    if result.status is RecordStatus.ACCEPTED:
                        accepted.append(result.key)
                        done[step] += 1
                        if step != "add":  # an added member has no state row yet
                            known.append(result.key)
                    elif result.status is RecordStatus.REJECTED:
                        rejected.append((result.key, result.reason, result.vendor_code))
            at = self.clock()
            seqs = (rows[0][1], rows[-1][1]) if rows else None
            with self.store.transaction():
                self.store.acknowledge(self.spec, steps, accepted, at, seqs, known=known,
                                       whole_range=len(accepted) == len(rows))
                self.store.record_rejections(self.spec, report.run_id, steps, rejected, at)
            crash_point("batch_acknowledged")
            # the removal half of an identity change ("unset") is counted once, as changed
            for step, name in (("add", "added"), ("change", "changed"), ("remove", "removed")):
                report.counts[name] += done[step]
            report.counts["rejected"] += len(rejected)
            report.counts["deferred"] += len(rows) - len(accepted) - len(rejected)
            report.counts["retried"] += batch.retries
            if rejected:
                _sample(report, batch.results)

    def _batches(self, destination: Destination, operation: Operation, records: Iterator[Record], target: str | None):
        """The destination's acknowledged batches; `batch_size` caps them below the vendor's limit."""
        if not self.spec.batch_size:
            yield from destination.write_stream(operation, records, target=target)
            return
        for chunk in chunked(records, self.spec.batch_size):
            yield from destination.write_stream(operation, chunk, target=target)


def _sample(report: SyncReport, results: list) -> None:
    for result in results:
        if result.status is RecordStatus.REJECTED and len(report.rejected_sample) < SAMPLE_SIZE:
            report.rejected_sample.append({"key": result.key, "code": result.vendor_code, "reason": scrub(result.reason or "")})


# ---------------------------------------------------------------------------- messages


def message_fields(spec: SyncSpec, action: dict[str, Any], parts: dict[str, str]) -> dict[str, Any]:
    """The record a destination receives: the model's record columns, the rendered parts
    (email subject/html/text, SMS text; other channels' parts as template_data), and the
    journey context as properties, so a webhook receiver knows what it got."""
    fields = {name: action[column] for name, column in spec.fields.items() if action.get(column) is not None}
    for part, text in parts.items():
        if part in ("subject", "html", "text"):
            fields[part] = text
    others = {part: text for part, text in parts.items() if part not in ("subject", "html", "text")}
    if others:
        fields["template_data"] = {**(fields.get("template_data") or {}), **others}
        fields.setdefault("text", others.get("body", ""))
    fields["properties"] = {name: action.get(name) for name in ("journey", "step_id", "customer_id", "channel", "offer")}
    return fields


class MessageSync:
    def __init__(self, spec: SyncSpec, store: SyncStore, options: RunOptions, templates: dict[str, dict[str, str]] | None = None):
        self.spec, self.store, self.options = spec, store, options
        self.clock = _Clock()
        self._templates = templates

    @property
    def deduplicates(self) -> bool:
        from connectors import destination_class

        return destination_class(self.spec.destination).capabilities.limits(Operation.SEND_MESSAGES).idempotent

    def batch_size(self) -> int:
        from connectors import destination_class

        limit = destination_class(self.spec.destination).capabilities.limits(Operation.SEND_MESSAGES).max_records
        return min(limit, self.spec.batch_size or MESSAGE_BATCH)

    def templates(self) -> dict[str, dict[str, str]]:
        if self._templates is None:
            from orchestration.journeys.compiler import TEMPLATES_DIR
            from orchestration.journeys.spec import load_templates

            self._templates = load_templates(TEMPLATES_DIR)
        return self._templates

    def render(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(messages with their record fields, render failures) for actions the ledger never saw."""
        from orchestration.journeys.messages import render_due_actions

        messages, failures = render_due_actions(self.store.con, self.templates(), relation=self.store.unrecorded_actions(self.spec))
        for message in messages:
            message["fields"] = message_fields(self.spec, message, message["parts"])
        return messages, failures

    def resolution(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(intents to resend as they were, intents to mark unknown) from earlier runs."""
        pending = self.store.pending_intents(self.spec)
        if self.deduplicates:
            return pending, []
        safe = [p for p in pending if (p["error"] or "").startswith(RETRYABLE_MARK)]
        return safe, [p for p in pending if not (p["error"] or "").startswith(RETRYABLE_MARK)]

    def preview(self, sample: int = SAMPLE_SIZE) -> dict[str, Any]:
        resend, give_up = self.resolution()
        messages, failures = self.render()
        return {
            "kind": "messages", "resend": len(resend), "mark_unknown": len(give_up), "send": len(messages),
            "suppress": len(failures),
            "sample": {
                "send": [f"{m['action_id']} {m['journey']}/{m['step_id']} to {m['customer_id']} "
                         f"({_mask(m['fields'].get('email') or m['fields'].get('phone') or m['fields'].get('external_id'))})"
                         for m in messages[:sample]],
                "suppress": [f"{f['action_id']}: {f['reason_code']} - {f['reason']}" for f in failures[:sample]],
                "resend": [p["action_id"] for p in resend[:sample]],
                "mark_unknown": [p["action_id"] for p in give_up[:sample]],
            },
        }

    def planned_keys(self) -> dict[str, set[str]]:
        resend, give_up = self.resolution()
        messages, failures = self.render()
        return {"resend": {p["action_id"] for p in resend}, "mark_unknown": {p["action_id"] for p in give_up},
                "send": {m["action_id"] for m in messages}, "suppress": {f["action_id"] for f in failures}}

    def run(self, destination: Destination, report: SyncReport) -> None:
        from orchestration.journeys.messages import record_render_failures

        report.kind = "messages"
        resend, give_up = self.resolution()
        if give_up:
            context = self.store.ledger_context([p["action_id"] for p in give_up])
            reason = IN_FLIGHT_UNKNOWN.format(destination=self.spec.destination)
            with self.store.transaction():
                self.store.append_ledger([{**context[p["action_id"]], "status": "unknown", "error": reason} for p in give_up], self.clock())
            report.counts["unknown"] += len(give_up)
        batches: dict[str, list[dict[str, Any]]] = {}
        for intent in resend:
            batches.setdefault(intent["batch_id"], []).append(intent)
        for batch_id, intents in batches.items():
            report.counts["retried"] += len(intents)
            context = self.store.ledger_context([i["action_id"] for i in intents])
            self._deliver(destination, batch_id, [{**context[i["action_id"]], "fields": i["fields"]} for i in intents], report)

        messages, failures = self.render()
        if failures:
            with self.store.transaction():
                record_render_failures(self.store.con, failures)
            report.counts["suppressed"] += len(failures)
        size = self.batch_size()
        for start in range(0, len(messages), size):
            batch = messages[start:start + size]
            batch_id = hashlib.sha256("\x00".join([self.spec.name, *(m["action_id"] for m in batch)]).encode()).hexdigest()[:24]
            self.store.write_intents(self.spec, batch_id, batch, self.clock())
            crash_point("intents_written")
            self._deliver(destination, batch_id, batch, report)
        report.plan["unresolved"] = self.store.unresolved(self.spec)

    def _deliver(self, destination: Destination, batch_id: str, actions: list[dict[str, Any]], report: SyncReport) -> None:
        records = [Record(a["action_id"], a["fields"]) for a in actions]
        try:
            result = destination.write(Operation.SEND_MESSAGES, records)
        except AuthenticationError as error:
            # Refused before delivery: what completed is acknowledged, the rest is provably unsent.
            done = {r.key: r for r in (error.partial.results if error.partial else [])}
            self._acknowledge(actions, done, report, unsent_reason="the destination refused our credentials")
            raise
        except ConfigurationError:
            self._acknowledge(actions, {}, report, unsent_reason="the destination is not configured")
            raise
        crash_point("sent")
        report.counts["retried"] += result.retries
        self._acknowledge(actions, {r.key: r for r in result.results}, report,
                          blocking_codes=destination.capabilities.blocking_codes)
        crash_point("acknowledged")

    def _acknowledge(self, actions: list[dict[str, Any]], results: dict[str, Any], report: SyncReport,
                     unsent_reason: str | None = None, blocking_codes: frozenset[str] = frozenset()) -> None:
        sent_at = self.options.now or _utcnow()
        rows, bounces = [], []
        for action in actions:
            base = {k: action.get(k) for k in ("action_id", "destination", "journey", "step_id", "customer_id", "channel", "offer")}
            base["destination"] = base["destination"] or self.spec.destination
            result = results.get(action["action_id"])
            if result is None:
                rows.append({**base, "status": "pending", "error": RETRYABLE_MARK + (unsent_reason or "not sent")})
                report.counts["deferred"] += 1
            elif result.status is RecordStatus.ACCEPTED:
                rows.append({**base, "status": "sent", "sent_at": sent_at, "provider_message_id": result.vendor_id})
                report.counts["sent"] += 1
            elif result.status is RecordStatus.REJECTED:
                rows.append({**base, "status": "failed", "error": scrub(result.reason or "rejected")})
                report.counts["rejected"] += 1
                if result.vendor_code in blocking_codes:  # e.g. a push token FCM no longer knows
                    bounces.append(delivery_event(
                        base["destination"], f"{action['action_id']}:{result.vendor_code}", "hard_bounce", base["channel"],
                        sent_at, address=(action.get("fields") or {}).get("token"), action_id=action["action_id"],
                        customer_id=base["customer_id"], payload={"vendor_code": result.vendor_code}))
            elif result.status is RecordStatus.RETRYABLE:
                rows.append({**base, "status": "pending", "error": RETRYABLE_MARK + scrub(result.reason or "")})
                report.counts["deferred"] += 1
            elif self.deduplicates:  # UNKNOWN, but a resend is recognised: the next run resends it
                report.counts["deferred"] += 1
            else:
                rows.append({**base, "status": "unknown", "error": scrub(result.reason or "no answer")})
                report.counts["unknown"] += 1
        with self.store.transaction():
            self.store.append_ledger(rows, self.clock())
            add_delivery_events(self.store.con, bounces)  # the record a vendor's bounce report makes
        _sample(report, list(results.values()))


# ---------------------------------------------------------------------------- entry points


@contextmanager
def _earlier_objects_frozen() -> Iterator[None]:
    """A sync allocates a few objects per row, so the collector runs often; each full
    collection would also walk every object the process held before the sync (imported
    modules, Dagster's definitions): a fifth of a 10,000-member sync. They are left out
    for the run and handed back to the oldest generation after it."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()



def _sync_for(spec: SyncSpec, store: SyncStore, options: RunOptions) -> AudienceSync | MessageSync:
    return MessageSync(spec, store, options) if spec.operation == "messages" else AudienceSync(spec, store, options)


def run_sync(spec: SyncSpec, options: RunOptions | None = None, *, destination_factory: DestinationFactory = default_destination,
             connect: Callable[[], Any] | None = None) -> SyncReport:
    """Run one sync under the warehouse lock. Raises SyncRefused (nothing sent),
    SyncIncomplete (some rows wait for the next run) or the destination's error, after
    recording the run in raw.sync_runs."""
    from orchestration.syncs.lock import warehouse_lock
    from orchestration.warehouse import raw_layer

    options = options or RunOptions()
    report = SyncReport(spec.name, spec.destination, kind="pending", run_id=uuid.uuid4().hex)
    started = time.monotonic()
    with _earlier_objects_frozen(), warehouse_lock(), (connect() if connect else raw_layer(memory_limit=SYNC_MEMORY_LIMIT)) as con:
        store = SyncStore(con)
        sync = _sync_for(spec, store, options)
        store.start_run(report.run_id, spec, "messages" if spec.operation == "messages" else "pending", _utcnow())
        try:
            with destination_factory(spec) as destination:
                sync.run(destination, report)
        except SyncRefused as refused:
            report.status, report.message = "refused", str(refused)
            refused.report = report
            raise
        except Exception as error:
            report.status, report.message = "failed", scrub(f"{type(error).__name__}: {error}")
            raise
        else:
            deferred = report.counts["deferred"]
            report.status = "incomplete" if deferred else "succeeded"
            if deferred:
                report.message = f"{deferred:,} rows could not be delivered now (throttled, unavailable or unanswered); the next run resumes them"
        finally:
            report.duration_seconds = round(time.monotonic() - started, 3)
            con.execute("update raw.sync_runs set kind = ? where run_id = ?", [report.kind, report.run_id])
            store.finish_run(report.run_id, report.status, report.tally(), _utcnow(), report.message)
    if report.status == "incomplete":
        raise SyncIncomplete(report.message or "incomplete", report)
    return report


def preview_sync(spec: SyncSpec, options: RunOptions | None = None, *, connect: Callable[[], Any] | None = None) -> dict[str, Any]:
    """What the next run would do. Sends nothing and writes nothing but a temporary table."""
    from orchestration.warehouse import raw_layer

    from orchestration.syncs.lock import warehouse_lock

    options = options or RunOptions()
    with warehouse_lock(), (connect() if connect else raw_layer()) as con:
        return {"sync": spec.name, **spec.summary(), **_sync_for(spec, SyncStore(con), options).preview()}


def planned_keys(spec: SyncSpec, options: RunOptions | None = None, *, connect: Callable[[], Any] | None = None) -> dict[str, set[str]]:
    from orchestration.syncs.lock import warehouse_lock
    from orchestration.warehouse import raw_layer

    with warehouse_lock(), (connect() if connect else raw_layer()) as con:
        return _sync_for(spec, SyncStore(con), options or RunOptions()).planned_keys()
