"""Hand-written customer timelines for journey tests: Segment calls at exact instants,
loaded through the real loader and decided on by the real dbt models."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.ingest.loader import load_file
from orchestration.phone_numbers import normalise_new_phone_numbers
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.warehouse import raw_layer

DBT = str(Path(sys.executable).parent / "dbt")


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

    def identify_device(self, user: str, device: str, at: datetime) -> None:
        """A log-in on another device: ties that device's anonymous history to the user."""
        self._call(type="identify", userId=user, anonymousId=device, traits={}, timestamp=iso(at))

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(c) + "\n" for c in self.calls))
        return path


class JourneyWarehouse:
    """A warehouse loaded with a timeline; `decide(now)` builds the journey models as of now."""

    def __init__(self, tmp: Path, timeline: Timeline):
        self.path = tmp / "warehouse.duckdb"
        self.target = tmp / "dbt_target"
        self.env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(self.path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        self.tmp = tmp
        self.load(timeline)
        self._dbt("seed")

    def load(self, timeline: Timeline, name: str = "timeline") -> None:
        """Load a timeline's calls as the loader would a newly landed file."""
        with raw_layer(self.path) as con:
            load_file(con, timeline.write(self.tmp / f"{name}.jsonl"))
            normalise_new_phone_numbers(con)

    def _dbt(self, *args: str) -> None:
        result = subprocess.run(
            [DBT, *args, "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(self.target)],
            cwd=DBT_PROJECT_DIR, env=self.env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    def add_ledger(self, rows: list[dict]) -> None:
        with raw_layer(self.path) as con:
            for row in rows:
                con.execute(
                    "insert into raw.delivery_ledger (action_id, status, sent_at, destination, journey, step_id, customer_id, channel, offer, recorded_at) "
                    "values ($action_id, $status, $sent_at, $destination, $journey, $step_id, $customer_id, $channel, $offer, $recorded_at)",
                    {"destination": None, "journey": None, "step_id": None, "offer": None, "sent_at": None, **row},
                )

    def add_delivery_event(self, **event) -> None:
        with raw_layer(self.path) as con:
            con.execute(
                "insert into raw.delivery_events (event_id, provider, event_type, channel, address, action_id, customer_id, occurred_at) "
                "values ($event_id, $provider, $event_type, $channel, $address, $action_id, $customer_id, $occurred_at)",
                {"action_id": None, "customer_id": None, "address": None, **event},
            )

    def render_messages(self) -> list[dict]:
        """What a message sync does first: render the due actions, suppress what fails."""
        from orchestration.journeys.compiler import TEMPLATES_DIR
        from orchestration.journeys.messages import record_render_failures, render_due_actions
        from orchestration.journeys.spec import load_templates

        with raw_layer(self.path) as con:
            messages, failures = render_due_actions(con, load_templates(TEMPLATES_DIR))
            record_render_failures(con, failures)
        return failures

    def decide(self, now: datetime) -> None:
        self._dbt("run", "--select", "+journey_actions_due", "--vars", json.dumps({"now": now.strftime("%Y-%m-%d %H:%M:%S")}))

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, params or {}).fetchall()

    def execute(self, sql: str) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql)

    def customer_of(self, user: str) -> str:
        rows = self.query(
            "select customer_id from identity.int_identity__customer_map where identifier_type = 'user_id' and identifier_value = $user",
            {"user": user},
        )
        assert rows, f"{user} did not resolve to a customer"
        return rows[0][0]

    def decisions(self, user: str, journey: str | None = None) -> list[dict]:
        sql = ("select journey, step_id, status, reason_code, reason, channel, scheduled_at, deferred_until, arm "
               "from journeys.journey_decisions where customer_id = $customer")
        params = {"customer": self.customer_of(user)}
        if journey:
            sql += " and journey = $journey"
            params["journey"] = journey
        columns = ["journey", "step_id", "status", "reason_code", "reason", "channel", "scheduled_at", "deferred_until", "arm"]
        return [dict(zip(columns, row)) for row in self.query(sql + " order by scheduled_at, step_id", params)]

    def instances(self, user: str, journey: str) -> list[dict]:
        columns = ["arm", "state", "entered_at", "exited_at", "exit_reason"]
        rows = self.query(
            f"select {', '.join(columns)} from journeys.journey_instances where customer_id = $customer and journey = $journey order by entered_at",
            {"customer": self.customer_of(user), "journey": journey},
        )
        return [dict(zip(columns, row)) for row in rows]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def days(n: float) -> timedelta:
    return timedelta(days=n)
