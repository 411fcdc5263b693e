"""Hand-written customer timelines for journey tests: Segment calls at exact instants,
loaded through the real loader and decided on by the real dbt models, on the engine
that `engine_env` selects (tests/engines.py)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from orchestration.dbt.runner import in_process_dbt
from orchestration.ingest.loader import load_file
from orchestration.phone_numbers import normalise_new_phone_numbers
from orchestration.warehouse import connect, raw_layer
from tests.engines import environment


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Timeline:
    prefix: str = "msg"  # message ids are prefix-1, prefix-2...: give a later timeline its own
    calls: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _call(self, **call) -> None:
        self.calls.append({"messageId": f"{self.prefix}-{next(self._ids)}", **call})

    def person(self, user: str, at: datetime, *, email: str | None = None, phone: str | None = None,
               country: str = "US", timezone: str = "America/New_York", consent: tuple[str, ...] = ("email",),
               device: str | None = None, named: bool = True) -> None:
        """A sign-up: identify with traits, then consent grants, all at `at`."""
        traits = {"first_name": user.title(), "country": country} if named else {"country": country}
        if email:
            traits["email"] = email
        if phone:
            traits["phone"] = phone
        self._call(type="identify", userId=user, anonymousId=device or f"device-{user}", traits=traits,
                   timestamp=iso(at), context={"timezone": timezone})
        for channel in consent:
            self.track(user, f"{channel}_consent_given", at, source="test")

    def track(self, user: str | None, event: str, at: datetime, *, device: str | None = None, **properties) -> None:
        call = {"type": "track", "event": event, "properties": properties, "timestamp": iso(at)}
        if user:
            call["userId"] = user
        call["anonymousId"] = device or f"device-{user}"
        self._call(**call)

    def app_open(self, user: str, device: str, token: str, at: datetime) -> None:
        """A session in the mobile app: its SDK sends the device's push token in context.device."""
        self._call(type="track", event="session_started", userId=user, anonymousId=device, properties={},
                   timestamp=iso(at), context={"device": {"id": device, "type": "android", "token": token}})

    def identify_device(self, user: str, device: str, at: datetime) -> None:
        """A log-in on another device: ties that device's anonymous history to the user."""
        self._call(type="identify", userId=user, anonymousId=device, traits={}, timestamp=iso(at))

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(c) + "\n" for c in self.calls))
        return path


def engine_env_for(request, database: str) -> dict[str, str] | None:
    """For a fixture parametrized over "duckdb" and "postgres": None on DuckDB (the
    JourneyWarehouse keeps its file in its own folder), else the environment of a fresh
    database, `database`, on the session's PostgreSQL server."""
    if request.param != "postgres":
        return None
    server = request.getfixturevalue("postgres_server")
    server.create_database(database)
    return server.env(database)


class JourneyWarehouse:
    """A warehouse loaded with a timeline; `decide(now)` builds the journey models as of now."""

    def __init__(self, tmp: Path, timeline: Timeline, engine_env: dict[str, str] | None = None):
        self.path = tmp / "warehouse.duckdb"
        self.target = tmp / "dbt_target"
        # DuckDB in this folder unless `engine_env` names another warehouse.
        self.engine_env = engine_env or {"THROUGHLINE_TARGET": "duckdb", "THROUGHLINE_WAREHOUSE": str(self.path)}
        self.tmp = tmp
        self.load(timeline)
        self._dbt("seed")

    def load(self, timeline: Timeline, name: str = "timeline") -> None:
        """Load a timeline's calls as the loader would a newly landed file."""
        with environment(self.engine_env), raw_layer() as con:
            load_file(con, timeline.write(self.tmp / f"{name}.jsonl"))
            normalise_new_phone_numbers(con)

    def _dbt(self, *args: str, now: datetime | None = None) -> None:
        # `now` goes in THROUGHLINE_NOW, not --vars: new vars make dbt parse the project again (macros/now.sql).
        env = {**self.engine_env, "THROUGHLINE_NOW": now.strftime("%Y-%m-%d %H:%M:%S")} if now else self.engine_env
        in_process_dbt().invoke(args, target_path=self.target, env=env, artifacts=False).raise_on_failure()

    def _insert(self, table: str, row: dict) -> None:
        with environment(self.engine_env), raw_layer() as con:
            con.execute(f"insert into {table} ({', '.join(row)}) values ({', '.join('?' for _ in row)})", list(row.values()))

    def add_ledger(self, rows: list[dict]) -> None:
        for row in rows:
            self._insert("raw.delivery_ledger", row)

    def add_delivery_event(self, **event) -> None:
        self._insert("raw.delivery_events", event)

    def render_messages(self) -> list[dict]:
        """What a message sync does first: render the due actions, suppress what fails."""
        from orchestration.journeys.compiler import TEMPLATES_DIR
        from orchestration.journeys.messages import record_render_failures, render_due_actions
        from orchestration.journeys.spec import load_templates

        with environment(self.engine_env), raw_layer() as con:
            messages, failures = render_due_actions(con, load_templates(TEMPLATES_DIR))
            record_render_failures(con, failures)
        return failures

    def decide(self, now: datetime) -> None:
        self._dbt("run", "--select", "+journey_actions_due", now=now)

    def connect(self):
        with environment(self.engine_env):
            return connect(read_only=True)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = self.connect()
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def execute(self, sql: str) -> None:
        with environment(self.engine_env):
            con = connect()
        try:
            con.execute(sql)
        finally:
            con.close()

    def customer_of(self, user: str) -> str:
        rows = self.query(
            "select customer_id from identity.int_identity__customer_map where identifier_type = 'user_id' and identifier_value = ?",
            [user],
        )
        assert rows, f"{user} did not resolve to a customer"
        return rows[0][0]

    def decisions(self, user: str, journey: str | None = None) -> list[dict]:
        sql = ("select journey, step_id, status, reason_code, reason, channel, destination, scheduled_at, deferred_until, arm "
               "from journeys.journey_decisions where customer_id = ?")
        params = [self.customer_of(user)]
        if journey:
            sql += " and journey = ?"
            params.append(journey)
        columns = ["journey", "step_id", "status", "reason_code", "reason", "channel", "destination", "scheduled_at", "deferred_until", "arm"]
        return [dict(zip(columns, row)) for row in self.query(sql + " order by scheduled_at, step_id", params)]

    def instances(self, user: str, journey: str) -> list[dict]:
        columns = ["arm", "state", "entered_at", "exited_at", "exit_reason"]
        rows = self.query(
            f"select {', '.join(columns)} from journeys.journey_instances where customer_id = ? and journey = ? order by entered_at",
            [self.customer_of(user), journey],
        )
        return [dict(zip(columns, row)) for row in rows]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)
