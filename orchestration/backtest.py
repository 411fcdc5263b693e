"""`throughline backtest`: what would a journey have sent over a past window, and to whom?

Decisions are a pure function of (events, delivery ledger, now), so a journey can be
replayed at each instant of a window. The replay runs in a scratch copy of the warehouse
and sends nothing; only its summary is written to the real warehouse
(`analytics.journey_backtests`, and beside it the journey's canvas with the simulated
counts and the customers most affected: backtest_canvas.py). docs/journeys.md, "Backtests".

In the copy:
- the journey's own ledger rows at or after the window's start are removed: they are what
  the backtest simulates. Every other journey's rows from then on are held back and
  released at the first instant after they were written, so each instant sees the
  ledger as it stood then (a tick's sends are recorded after its build);
- every journey's state (the journey models, journey_instances, journey_decisions) is
  emptied, so the first instant decides from scratch, as a first run does; every journey
  is replayed, so collisions, duplicate offers and frequency caps across journeys are
  judged against the other journeys as they decided at that instant;
- at each instant the models that decide run with THROUGHLINE_NOW set, and the journey's
  due actions are recorded in the copy's ledger as `sent` at that instant, so the next
  instant counts them (steps, caps, offers).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from orchestration.backtest_canvas import simulated_canvas, write_canvas_and_customers
from orchestration.dbt.runner import InProcessDbt, environment, in_process_dbt
from orchestration.report.canvas import Canvas
from orchestration.settings import DBT_PROJECT_DIR, warehouse_path
from orchestration.warehouse import MISSING_RELATION, Connection, connect, target

GENERATED_DIR = DBT_PROJECT_DIR / "models" / "journeys" / "generated"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
JOURNEY_STATE = ("journeys.journey_instances", "journeys.journey_decisions")
MOST_AFFECTED = 10
EVERY = re.compile(r"^\s*(\d+)\s*(m|min|minutes?|h|hours?|d|days?)\s*$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}

RESULTS_DDL = """
create schema if not exists analytics;
create table if not exists analytics.journey_backtests (
    backtest_id    varchar   not null,
    journey        varchar   not null,
    from_at        timestamp not null,
    to_at          timestamp not null,
    every_seconds  bigint    not null,
    instants       bigint    not null,
    day            date      not null,
    step_id        varchar   not null,
    outcome        varchar   not null,   -- would_send | suppressed | deferred | converted
    reason_code    varchar,              -- for suppressed: why
    actions        bigint    not null,
    customers      bigint    not null,
    created_at     timestamp not null
)
"""


class BacktestError(ValueError):
    """A backtest that can't run as asked: the message says why."""


@dataclass
class Send:
    at: datetime
    action_id: str
    step_id: str
    customer_id: str
    instance_id: str
    channel: str


@dataclass
class Backtest:
    backtest_id: str
    journey: str
    start: datetime
    end: datetime
    every: timedelta
    instants: list[datetime]
    sends: list[Send] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)  # per day, step, outcome (and reason)
    most_affected: list[dict] = field(default_factory=list)
    seconds_per_instant: list[float] = field(default_factory=list)
    # As the last instant left them, to say why another version differs (compare()):
    decisions: dict[tuple[str, str], tuple] = field(default_factory=dict)  # (customer, step) -> status, reason_code, reason, scheduled_at
    instances: dict[str, tuple] = field(default_factory=dict)  # customer -> state, exit_reason, entered_at, exited_at (latest)
    canvas: Canvas | None = None  # the journey's canvas as the last instant left it (backtest_canvas.py)

    def to_json(self) -> dict:
        return {
            "backtest_id": self.backtest_id, "journey": self.journey, "from": self.start.isoformat(sep=" "),
            "to": self.end.isoformat(sep=" "), "every_seconds": int(self.every.total_seconds()),
            "instants": len(self.instants), "would_send": len(self.sends),
            "seconds_per_instant": round(sum(self.seconds_per_instant) / max(len(self.seconds_per_instant), 1), 3),
            "rows": [{**r, "day": r["day"].isoformat()} for r in self.rows],
            "most_affected": self.most_affected,
            "canvas": [{"node_id": node.id, "metric": metric, "value": value} for node in (self.canvas.nodes if self.canvas else [])
                       for _, metric, value in node.counts],
            "sends": [{"at": s.at.isoformat(sep=" "), "step_id": s.step_id, "customer_id": s.customer_id,
                       "channel": s.channel, "action_id": s.action_id} for s in self.sends],
        }


def parse_every(text: str) -> timedelta:
    match = EVERY.match(text)
    if not match or int(match.group(1)) == 0:
        raise BacktestError(f"--every wants a positive duration such as 15m, 1h or 1d, not {text!r}")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)[0]])


def parse_instant(option: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BacktestError(f"{option} wants a UTC instant in ISO 8601 (2026-03-02T15:00:00), not {text!r}") from None
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def journey_names() -> list[str]:
    """The journeys `throughline prepare` compiled: the ones dbt can run."""
    return sorted(p.stem.removeprefix("journey__") for p in GENERATED_DIR.glob("journey__*.sql"))


def instants_between(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    result, at = [], start
    while at <= end:
        result.append(at)
        at += every
    return result


def check(journey: str, start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    known = journey_names()
    if journey not in known:
        raise BacktestError(f"no journey named {journey!r}; journeys: {', '.join(known) or 'none (run `throughline prepare`)'}")
    if start > end:
        raise BacktestError(f"--from ({start:%Y-%m-%d %H:%M:%S}) is after --to ({end:%Y-%m-%d %H:%M:%S})")
    return instants_between(start, end, every)


def decision_models(manifest_path: Path = MANIFEST) -> list[str]:
    """What runs at each instant: every journey model, variant_shares, journey_instances and
    journey_decisions, and the models upstream of them whose rows depend on `now` (they call
    throughline_now(): dim_customers, reachability...) and the tables built on those. The
    walk stops at incremental models: the event and identity layers are append-only and
    filtered by time where they are read, and the logs (segment_changes, the id registry)
    keep the history that the journeys read up to `now`. A view that does not read `now`
    (journey_actions_due, journey_candidates) answers for the instant as it is."""
    if not manifest_path.exists():
        raise BacktestError(f"no dbt manifest at {manifest_path}: run `throughline prepare` (or `make manifest`) first")
    nodes = json.loads(manifest_path.read_text())["nodes"]
    models = {key: node for key, node in nodes.items() if node["resource_type"] == "model"}
    by_name = {node["name"]: key for key, node in models.items()}
    deciding = [key for key, node in models.items()
                if node["name"].startswith("journey__") or node["name"] in ("journey_instances", "journey_decisions", "variant_shares")]
    reads_now = {key for key, node in models.items() if "throughline_now" in node["raw_code"]}
    upstream: set[str] = set()
    stack = list(deciding)
    while stack:  # the non-incremental models the deciding ones read, through views and tables
        for parent in models.get(stack.pop(), {}).get("depends_on", {}).get("nodes", []):
            if parent in models and parent not in upstream and models[parent]["config"]["materialized"] != "incremental":
                upstream.add(parent)
                stack.append(parent)

    def depends_on_now(key: str, seen: set[str]) -> bool:
        if key in reads_now:
            return True
        parents = [p for p in models[key]["depends_on"]["nodes"] if p in upstream and p not in seen]
        seen.update(parents)
        return any(depends_on_now(p, seen) for p in parents)

    rerun = {key for key in upstream if key in reads_now
             or (models[key]["config"]["materialized"] == "table" and depends_on_now(key, set()))}
    if "journey_decisions" not in by_name:
        raise BacktestError("the dbt manifest has no journey models: run `throughline prepare`")
    return sorted(models[key]["name"] for key in (*deciding, *rerun))


# ------------------------------------------------------------------------- scratch copies


def _pg_admin():
    import psycopg

    env = os.environ
    return psycopg.connect(host=env.get("THROUGHLINE_PG_HOST", "localhost"), port=int(env.get("THROUGHLINE_PG_PORT", "5432")),
                           user=env.get("THROUGHLINE_PG_USER", "throughline"), password=env.get("THROUGHLINE_PG_PASSWORD") or None,
                           dbname="postgres", autocommit=True)


@contextmanager
def scratch_warehouse(folder: Path) -> Iterator[dict[str, str]]:
    """A copy of the warehouse, as the environment that selects it; gone afterwards.

    DuckDB: a copy of the file (under the warehouse lock, so no tick writes it meanwhile),
    with the same name, so dbt's parsed manifest (whose database is the file's stem) serves.
    PostgreSQL: `CREATE DATABASE ... TEMPLATE`, a file-level copy of every schema made by
    the server in one statement. A scratch schema would need every model and source
    redirected, which the project's fixed schema names (generate_schema_name) don't allow,
    and copying table by table would be slower and not one consistent snapshot. TEMPLATE
    refuses while anyone is connected to the warehouse, which also means no tick is
    writing it; the copy is made again each backtest under one name per warehouse, so a
    second backtest at once fails on it instead of sharing it."""
    if target() == "postgres":
        import psycopg

        real = os.environ.get("THROUGHLINE_PG_DATABASE", "throughline")
        scratch = f"{real}__backtest"[:63]
        with _pg_admin() as admin:
            try:
                admin.execute(f'drop database if exists "{scratch}"')
            except psycopg.errors.ObjectInUse:
                raise BacktestError(f"another backtest of {real} is running (its scratch database {scratch} is in use)") from None
            for attempt in range(30):  # a tick or a reader between statements: wait for it to finish
                try:
                    admin.execute(f'create database "{scratch}" template "{real}"')
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 29:
                        raise BacktestError(f"could not copy {real}: other sessions stayed connected to it for 30 s "
                                            "(CREATE DATABASE ... TEMPLATE needs none); run the backtest between ticks") from None
                    time.sleep(1)
        try:
            yield {"THROUGHLINE_PG_DATABASE": scratch}
        finally:
            with _pg_admin() as admin:
                admin.execute(f'drop database if exists "{scratch}"')
        return
    from orchestration.syncs.lock import warehouse_lock

    real = warehouse_path()
    if not real.exists():
        raise BacktestError(f"no warehouse at {real}; load events and run `throughline build` first")
    copy = folder / "warehouse" / real.name
    copy.parent.mkdir(parents=True)
    with warehouse_lock():
        shutil.copyfile(real, copy)
        wal = real.with_name(real.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    yield {"THROUGHLINE_WAREHOUSE": str(copy)}


def _exists(con: Connection, table: str) -> bool:
    try:
        con.execute(f"select 1 from {table} where 1 = 0").fetchall()
        return True
    except MISSING_RELATION:
        return False


def _actions_from(table: str, comparison: str) -> str:
    """The actions whose last ledger row was written `comparison` (`>= ?`, `< ?`): an
    action's rows move together, so a send's pending row goes with its outcome."""
    return (f"action_id in (select action_id from {table} group by action_id "
            f"having max(coalesce(sent_at, recorded_at)) {comparison})")


def prepare_scratch(con: Connection, journey: str, start: datetime) -> None:
    """Hold back the ledger from `start` on (the journey's own actions go: the backtest makes
    its own) and empty every journey's state, so the first instant decides from scratch."""
    con.execute("drop table if exists raw.backtest_held_ledger")
    con.execute("create table raw.backtest_held_ledger as select * from raw.delivery_ledger "
                f"where {_actions_from('raw.delivery_ledger', '>= ?')} and journey is distinct from ?", [start, journey])
    con.execute(f"delete from raw.delivery_ledger where {_actions_from('raw.delivery_ledger', '>= ?')}", [start])
    for table in (*(f"journeys.journey__{name}" for name in journey_names()), *JOURNEY_STATE):
        if _exists(con, table):
            con.execute(f"delete from {table}")


def release_ledger(con: Connection, at: datetime) -> None:
    """The other journeys' actions recorded before `at`: the ledger as it stood at `at`."""
    released = _actions_from("raw.backtest_held_ledger", "< ?")
    con.execute(f"insert into raw.delivery_ledger select * from raw.backtest_held_ledger where {released}", [at])
    con.execute(f"delete from raw.backtest_held_ledger where {released}", [at])


# ---------------------------------------------------------------------------- the replay


def run_backtest(journey: str, start: datetime, end: datetime, every: timedelta = timedelta(hours=1),
                 *, progress=None, project: Path | None = None, write: bool = True) -> Backtest:
    """Replay `journey` at start, start + every, ... <= end; write the summary to the real
    warehouse's analytics.journey_backtests (unless `write` is false) and return it.
    `project`: another dbt project to decide with (other_version()); the working one by default."""
    instants = check(journey, start, end, every)
    result = Backtest(uuid.uuid4().hex[:12], journey, start, end, every, instants)
    models = decision_models()  # another version changes one journey's SQL, not which models decide
    dbt = in_process_dbt() if project is None else InProcessDbt(project)
    deferred: dict[str, tuple[str, str, datetime]] = {}  # action -> step, customer, first instant deferred
    with tempfile.TemporaryDirectory(prefix="throughline-backtest-") as tmp, scratch_warehouse(Path(tmp)) as scratch_env:
        with environment(scratch_env):
            con = connect()
            try:
                prepare_scratch(con, journey, start)
            finally:
                con.close()
        for number, at in enumerate(instants, 1):
            started = time.perf_counter()
            with environment(scratch_env):
                con = connect()
                try:
                    release_ledger(con, at)
                finally:
                    con.close()
            dbt.invoke(["run", "--quiet", "--select", *models], target_path=Path(tmp) / "target", artifacts=False,
                       env={**scratch_env, "THROUGHLINE_NOW": at.strftime("%Y-%m-%d %H:%M:%S")}).raise_on_failure()
            with environment(scratch_env):
                con = connect()
                try:
                    result.sends.extend(record_sends(con, journey, at))
                    for action_id, step_id, customer_id in con.execute(
                            "select action_id, step_id, customer_id from journeys.journey_decisions "
                            "where journey = ? and status = 'deferred'", [journey]).fetchall():
                        deferred.setdefault(action_id, (step_id, customer_id, at))
                    if number == len(instants):
                        final = outcomes(con, journey, start, result.sends)
                        keep_final_state(con, result)
                finally:
                    con.close()
            result.seconds_per_instant.append(time.perf_counter() - started)
            if progress:
                progress(number, len(instants), at, result.seconds_per_instant[-1])
        if project is None:  # the canvas is drawn from the working copy's YAML
            result.canvas = simulated_canvas(journey, instants[-1], scratch_env, Path(tmp) / "target", MANIFEST)
    summarise(result, final, deferred)
    if write:
        write_results(result)
    return result


def record_sends(con: Connection, journey: str, at: datetime) -> list[Send]:
    """The journey's due actions, recorded in the scratch ledger as sent at `at`."""
    due = con.execute("select action_id, step_id, customer_id, instance_id, channel, destination, offer "
                      "from journeys.journey_actions_due where journey = ? order by action_id", [journey]).fetchall()
    if due:
        con.executemany(
            "insert into raw.delivery_ledger (action_id, status, sent_at, destination, journey, step_id, customer_id, "
            "channel, offer, recorded_at) values (?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?)",
            [[a, at, dest, journey, step, customer, channel, offer, at] for a, step, customer, _, channel, dest, offer in due])
    return [Send(at, a, step, customer, instance, channel) for a, step, customer, instance, channel, _, _ in due]


def keep_final_state(con: Connection, result: Backtest) -> None:
    """Each customer's latest decision per step and latest instance, as the last instant left them."""
    for customer, step, status, code, reason, scheduled in con.execute(
            "select customer_id, step_id, status, reason_code, reason, scheduled_at from journeys.journey_decisions "
            "where journey = ? order by scheduled_at, action_id", [result.journey]).fetchall():
        result.decisions[(customer, step)] = (status, code, reason, scheduled)
    for customer, state, exit_reason, entered, exited in con.execute(
            "select customer_id, state, exit_reason, entered_at, exited_at from journeys.journey_instances "
            "where journey = ? order by entered_at, instance_id", [result.journey]).fetchall():
        result.instances[customer] = (state, exit_reason, entered, exited)


def counted_from(start: datetime) -> datetime:
    """The earliest scheduled time of an action that the window decides: one due less than
    max_delay before the first instant could still go out in it; older ones are history."""
    from orchestration.journeys.compiler import JOURNEYS_DIR
    from orchestration.journeys.policies import load_policies

    return start - timedelta(seconds=load_policies(JOURNEYS_DIR / "policies.yml").max_delay_seconds)


def outcomes(con: Connection, journey: str, start: datetime, sends: list[Send]) -> dict:
    """As the last instant left them: the window's suppressed actions and the conversions."""
    suppressed = con.execute(
        "select action_id, step_id, customer_id, reason_code, scheduled_at from journeys.journey_decisions "
        "where journey = ? and status = 'suppressed' and scheduled_at > ?", [journey, counted_from(start)]).fetchall()
    converted = dict(con.execute(
        "select instance_id, exited_at from journeys.journey_instances where journey = ? and state = 'converted'",
        [journey]).fetchall())
    return {"suppressed": suppressed, "converted": converted}


def summarise(result: Backtest, final: dict, deferred: dict) -> None:
    actions: dict[tuple, set] = defaultdict(set)
    customers: dict[tuple, set] = defaultdict(set)

    def count(day: date, step: str, outcome: str, reason: str | None, action: str, customer: str) -> None:
        actions[(day, step, outcome, reason)].add(action)
        customers[(day, step, outcome, reason)].add(customer)

    per_customer: dict[str, Counter] = defaultdict(Counter)
    for send in result.sends:
        count(send.at.date(), send.step_id, "would_send", None, send.action_id, send.customer_id)
        per_customer[send.customer_id]["would_send"] += 1
        converted_at = final["converted"].get(send.instance_id)
        if converted_at is not None and converted_at >= send.at:
            count(send.at.date(), send.step_id, "converted", None, send.action_id, send.customer_id)
            per_customer[send.customer_id]["converted"] += 1
    for action, step, customer, reason, scheduled in final["suppressed"]:
        count(max(scheduled, result.start).date(), step, "suppressed", reason, action, customer)
        per_customer[customer]["suppressed"] += 1
    for action, (step, customer, at) in deferred.items():
        count(at.date(), step, "deferred", None, action, customer)
        per_customer[customer]["deferred"] += 1
    result.rows = [{"day": day, "step_id": step, "outcome": outcome, "reason_code": reason,
                    "actions": len(actions[key]), "customers": len(customers[key])}
                   for key in sorted(actions, key=lambda k: (k[0], k[1], k[2], k[3] or ""))
                   for day, step, outcome, reason in [key]]
    ranked = sorted(per_customer.items(), key=lambda item: (
        -item[1]["would_send"], -item[1]["suppressed"], -item[1]["deferred"], item[0]))[:MOST_AFFECTED]
    result.most_affected = [{"customer_id": customer, **{k: c.get(k, 0) for k in ("would_send", "suppressed", "deferred", "converted")}}
                            for customer, c in ranked]


def write_results(result: Backtest) -> None:
    """One row per day, step and outcome, in the real warehouse, for the report."""
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [[result.backtest_id, result.journey, result.start, result.end, int(result.every.total_seconds()), len(result.instants),
             r["day"], r["step_id"], r["outcome"], r["reason_code"], r["actions"], r["customers"], created] for r in result.rows]
    with results_table(RESULTS_DDL) as con:
        insert_rows(con, "analytics.journey_backtests", rows)
        write_canvas_and_customers(con, result, created)


@contextmanager
def results_table(ddl: str) -> Iterator[Connection]:
    """The real warehouse, under its lock (no tick writes it meanwhile), with a results table made if missing."""
    from orchestration.syncs.lock import warehouse_lock

    with warehouse_lock():
        con = connect()
        try:
            for statement in ddl.split(";"):
                con.execute(statement)
            yield con
        finally:
            con.close()


def insert_rows(con: Connection, table: str, rows: list[list]) -> None:
    if rows:
        con.executemany(f"insert into {table} values ({', '.join('?' * len(rows[0]))})", rows)


def format_backtest(result: Backtest) -> str:
    from orchestration.summary import format_table

    mean = sum(result.seconds_per_instant) / max(len(result.seconds_per_instant), 1)
    lines = [f"backtest {result.backtest_id} of {result.journey}: {len(result.instants)} instants from "
             f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M} UTC every {result.every} "
             f"({mean:.1f}s an instant); nothing was sent",
             f"would send {len(result.sends):,} messages to {len({s.customer_id for s in result.sends}):,} customers", ""]
    lines.append(format_table(["day", "step", "outcome", "reason", "actions", "customers"],
                              [(f"{r['day']}", r["step_id"], r["outcome"], r["reason_code"] or "", r["actions"], r["customers"])
                               for r in result.rows]) if result.rows else "no action of the journey came due in the window")
    if result.most_affected:
        lines += ["", "customers most affected:",
                  format_table(["customer", "would send", "suppressed", "deferred", "converted"],
                               [(c["customer_id"], c["would_send"], c["suppressed"], c["deferred"], c["converted"])
                                for c in result.most_affected])]
    lines.append(f"\nwritten to analytics.journey_backtests, journey_backtest_canvas and journey_backtest_customers "
                 f"(backtest_id {result.backtest_id})")
    return "\n".join(lines)


# ------------------------------------------------------------- --against: another version


def journey_file(journey: str, journeys_dir: Path) -> Path:
    """The YAML file that declares `journey` (its name, which is usually also the file's)."""
    import yaml

    named = journeys_dir / f"{journey}.yml"
    candidates = [named] + sorted(p for p in journeys_dir.glob("*.yml") if p != named and p.name != "policies.yml")
    for path in candidates:
        if path.exists() and (yaml.safe_load(path.read_text()) or {}).get("name") == journey:
            return path
    raise BacktestError(f"no journey file declares {journey!r} in {journeys_dir}")


def journey_yaml_at(ref: str, journey: str, journeys_dir: Path) -> tuple[str, str]:
    """The journey's YAML in `ref`, and what to call that version: `ref` is a YAML file, or
    a git ref of the repository the project lives in (`HEAD`, `main~3`, a tag)."""
    import subprocess

    if ref.endswith((".yml", ".yaml")) or Path(ref).is_file():
        if not Path(ref).is_file():
            raise BacktestError(f"--against {ref}: no such file")
        return Path(ref).read_text(), Path(ref).name
    path = journey_file(journey, journeys_dir)
    def git(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["git", "-C", str(journeys_dir), *args], capture_output=True, text=True)
        except FileNotFoundError:
            raise BacktestError(f"--against {ref}: not a file, and git is not installed to read it as a ref") from None
    top = git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise BacktestError(f"--against {ref}: not a file, and {journeys_dir} is not in a git repository")
    relative = path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = git("show", f"{ref}:{relative}")
    if shown.returncode != 0:
        reason = (shown.stderr.strip().splitlines() or ["git show failed"])[-1].removeprefix("fatal: ")
        raise BacktestError(f"--against {ref}: cannot read {relative} there ({reason})")
    return shown.stdout, ref


@contextmanager
def other_version(journey: str, ref: str, folder: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the dbt project with `journey` as declared in `ref`, compiled (the other
    journeys, the policies and every model as in the working copy), and the version's name.
    dbt parses the copy on its first run, starting from the working project's partial parse."""
    import yaml

    from orchestration.journeys.compiler import JOURNEYS_DIR, compile_project
    from orchestration.journeys.spec import JourneyError

    text, label = journey_yaml_at(ref, journey, JOURNEYS_DIR)
    try:
        declared = (yaml.safe_load(text) or {}).get("name")
    except yaml.YAMLError as error:
        raise BacktestError(f"--against {ref}: not valid YAML: {error}") from None
    if declared != journey:
        raise BacktestError(f"--against {ref}: it declares the journey {declared!r}, not {journey!r}")
    copy = folder / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    kept_parse = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if kept_parse.exists():
        (copy / "target").mkdir()
        shutil.copyfile(kept_parse, copy / "target" / kept_parse.name)
    journey_file(journey, copy / "journeys").write_text(text)
    try:
        compile_project(copy / "models" / "journeys" / "generated", copy / "journeys")
    except JourneyError as error:
        raise BacktestError(f"--against {ref}: {error}") from None
    yield copy, label


@dataclass
class Difference:
    customer_id: str
    step_id: str
    channel: str
    this: str  # what the working copy does with this customer's step
    other: str  # what the other version does
    sent_at: datetime  # the instant of the send (in either version; the working copy's if both)


@dataclass
class Comparison:
    working: Backtest
    other: Backtest
    label: str  # the other version: the ref or the file's name
    differences: list[Difference]
    sends_by_channel: dict[str, tuple[int, int]]  # channel -> (working, other)
    purchased_before: dict[str, int]  # "added"/"removed" -> sends to people who purchased within the hour before

    @property
    def changed_customers(self) -> set[str]:
        return {d.customer_id for d in self.differences}


def _outcome(result: Backtest, sends: dict[tuple[str, str, int], Send], key: tuple[str, str, int]) -> str:
    """What `result`'s version did with a customer's step (its n-th send of it), as `explain` would put it."""
    customer, step, _ = key
    if key in sends:
        return f"sent at {sends[key].at:%Y-%m-%d %H:%M}"
    times = sum((c, s) == (customer, step) for c, s, _ in sends)
    if times:
        return f"sent {times} time{'s' * (times > 1)}, not again"
    decision = result.decisions.get((customer, step))
    if decision is not None:
        status, code, reason, _ = decision
        return status + (f" ({code})" if code else "") + (f": {reason}" if reason else "")
    instance = result.instances.get(customer)
    if instance is None:
        return "not entered"
    state, exit_reason, entered, exited = instance
    if state in ("converted", "exited") and exited is not None:
        return f"{state} at {exited:%Y-%m-%d %H:%M}" + (f" ({exit_reason})" if exit_reason else "") + ", before this step"
    return f"{state}, entered at {entered:%Y-%m-%d %H:%M}: the step was not due by the end of the window"


def numbered(sends: list[Send]) -> dict[tuple[str, str, int], Send]:
    """Sends by customer, step and which of that customer's sends of the step it is (a
    journey that is entered again sends a step again)."""
    seen: Counter = Counter()
    result = {}
    for send in sorted(sends, key=lambda s: (s.at, s.action_id)):
        seen[(send.customer_id, send.step_id)] += 1
        result[(send.customer_id, send.step_id, seen[(send.customer_id, send.step_id)])] = send
    return result


def changed_customers(working: Backtest, other: Backtest) -> set[str]:
    here, there = numbered(working.sends), numbered(other.sends)
    return {key[0] for key in set(here) ^ set(there)} | {key[0] for key in set(here) & set(there) if here[key].at != there[key].at}


def compare(working: Backtest, other: Backtest, label: str, purchases: dict[str, list[datetime]]) -> Comparison:
    """Every customer step that one version sends and the other does not, or sends at another
    instant, with what each version did instead; `purchases`: each customer's order times."""
    here, there = numbered(working.sends), numbered(other.sends)
    differences = []
    for key in sorted(set(here) | set(there)):
        if key in here and key in there and here[key].at == there[key].at:
            continue
        send = here.get(key) or there[key]
        differences.append(Difference(key[0], key[1], send.channel, _outcome(working, here, key),
                                      _outcome(other, there, key), send.at))
    channels = sorted({s.channel for s in working.sends} | {s.channel for s in other.sends})
    by_channel = {c: (sum(s.channel == c for s in working.sends), sum(s.channel == c for s in other.sends)) for c in channels}

    def purchased_within_the_hour(send: Send) -> bool:
        return any(send.at - timedelta(hours=1) <= t <= send.at for t in purchases.get(send.customer_id, []))

    added = [s for key, s in here.items() if key not in there]
    removed = [s for key, s in there.items() if key not in here]
    return Comparison(working, other, label, differences, by_channel,
                      {"added": sum(map(purchased_within_the_hour, added)),
                       "removed": sum(map(purchased_within_the_hour, removed))})


def purchases_of(customers: set[str]) -> dict[str, list[datetime]]:
    """Order times per customer (marts.fct_orders of the real warehouse), for the sends that differ."""
    found: dict[str, list[datetime]] = defaultdict(list)
    if not customers:
        return found
    con = connect()
    try:
        if not _exists(con, "marts.fct_orders"):
            return found
        wanted = sorted(customers)
        for chunk in range(0, len(wanted), 1000):
            part = wanted[chunk:chunk + 1000]
            for customer, ordered_at in con.execute(
                    f"select customer_id, ordered_at from marts.fct_orders where ordered_at is not null "
                    f"and customer_id in ({', '.join('?' * len(part))})", part).fetchall():
                found[customer].append(ordered_at)
        return found
    finally:
        con.close()


DIFFERENCES_DDL = """
create schema if not exists analytics;
create table if not exists analytics.journey_backtest_differences (
    backtest_id    varchar   not null,   -- the working copy's backtest (analytics.journey_backtests)
    against        varchar   not null,   -- the other version: a git ref or a YAML file's name
    journey        varchar   not null,
    customer_id    varchar   not null,
    step_id        varchar   not null,
    channel        varchar   not null,
    sent_at        timestamp not null,
    this_version   varchar   not null,
    other_version  varchar   not null,
    created_at     timestamp not null
)
"""


def write_differences(comparison: Comparison) -> None:
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [[comparison.working.backtest_id, comparison.label, comparison.working.journey, d.customer_id, d.step_id,
             d.channel, d.sent_at, d.this, d.other, created] for d in comparison.differences]
    with results_table(DIFFERENCES_DDL) as con:
        insert_rows(con, "analytics.journey_backtest_differences", rows)


def run_comparison(journey: str, start: datetime, end: datetime, every: timedelta, against: str,
                   *, progress=None) -> Comparison:
    """Backtest the working copy and `against` over the same instants, and what differs.
    Only the working copy's backtest is written to analytics.journey_backtests; the
    differences go to analytics.journey_backtest_differences under its id."""
    check(journey, start, end, every)
    with tempfile.TemporaryDirectory(prefix="throughline-against-") as tmp, other_version(journey, against, Path(tmp)) as (project, label):
        other = run_backtest(journey, start, end, every, progress=progress, project=project, write=False)
    working = run_backtest(journey, start, end, every, progress=progress)
    comparison = compare(working, other, label, purchases_of(changed_customers(working, other)))
    write_differences(comparison)
    return comparison


def format_comparison(comparison: Comparison) -> str:
    from orchestration.summary import format_table

    lines = [format_backtest(comparison.working), "", f"against {comparison.label}:"]
    for channel, (here, there) in comparison.sends_by_channel.items():
        delta = here - there
        change = f"{abs(delta):,} {'more' if delta > 0 else 'fewer'}" if delta else "the same number of"
        lines.append(f"  this version sends {change} {channel} ({here:,} against {there:,})")
    added, removed = comparison.purchased_before["added"], comparison.purchased_before["removed"]
    if added:
        lines.append(f"  {added:,} of the sends only this version makes go to people who purchased within the hour before")
    if removed:
        lines.append(f"  {removed:,} of the sends only {comparison.label} makes go to people who purchased within the hour before")
    if not comparison.differences:
        lines.append("  no customer's messages differ")
        return "\n".join(lines)
    lines += ["", f"{len(comparison.changed_customers):,} customers differ:",
              format_table(["customer", "step", "channel", "this version", comparison.label],
                           [(d.customer_id, d.step_id, d.channel, d.this, d.other) for d in comparison.differences])]
    return "\n".join(lines)
