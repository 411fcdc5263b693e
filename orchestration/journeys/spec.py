"""Journeys as code: the YAML an analyst writes, validated into a plan the compiler turns
into SQL.

A bad declaration fails here, at `throughline prepare` and at Dagster definitions load,
with a message that names the journey, the field and the fix.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

# crm is work for a salesperson (a CRM task on the contact), not a message to the customer.
CHANNELS = ("email", "sms", "push", "in_app", "webhook", "ad_audience", "crm")

# Which destinations can carry which channel (the connectors registry names).
CHANNEL_DESTINATIONS = {
    "email": ("sendgrid", "klaviyo", "braze", "customerio", "smtp", "file_outbox"),
    "sms": ("twilio", "braze", "customerio", "file_outbox"),
    "push": ("braze", "customerio", "onesignal", "fcm", "file_outbox"),
    "in_app": ("braze", "customerio", "file_outbox"),
    "webhook": ("webhook", "file_outbox"),
    "ad_audience": ("meta", "google_ads", "file_outbox"),
    "crm": ("hubspot", "file_outbox"),
}

# The parts a template needs per channel.
TEMPLATE_PARTS = {
    "email": ("subject", "html", "text"),
    "sms": ("text",),
    "push": ("title", "body"),
    "in_app": ("title", "body"),
    "webhook": ("body",),
    "ad_audience": (),
    "crm": ("subject", "text"),
}

RE_ENTRY = ("never", "after_exit", "cooldown")
# How a step's variants share its customers: fixed weights, or Thompson sampling (shares
# follow the probability that each variant converts best, docs/journeys.md).
VARIANT_STRATEGIES = ("weights", "thompson")
DEFAULT_VARIANT_FLOOR = 0.05
ON_TIMEOUT = ("continue", "exit")
DURATION = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week)s?\s*$")
DURATION_UNITS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class JourneyError(ValueError):
    """A declaration problem: where it is, what is wrong, and how to fix it."""

    def __init__(self, journey: str, field_path: str, problem: str, fix: str):
        self.journey, self.field_path, self.problem, self.fix = journey, field_path, problem, fix
        super().__init__(f"journey '{journey}', field '{field_path}': {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Duration:
    text: str
    seconds: int

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class EventRule:
    """An event, optionally filtered (SQL over the event) and matched against the entry
    event's properties (`match: [product_id]` means the same product_id)."""

    event: str
    where: str | None = None
    match: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    kind: str  # event | segment | inactivity
    event: EventRule | None = None
    count: int = 1
    within: Duration | None = None
    segment: str | None = None
    inactive_for: Duration | None = None
    activity_event: str = "session_started"
    profile: str | None = None
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Channel:
    channel: str
    template: str
    destination: str


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int  # relative, under strategy weights; 0 under thompson
    template: str


@dataclass(frozen=True)
class Step:
    id: str
    kind: str  # wait | wait_until | send | branch
    conditions: tuple[str, ...] = ()  # branch arms this step sits under: "branch_<id>" or "branch_<id>_else"
    wait: Duration | None = None
    until: EventRule | None = None
    timeout: Duration | None = None
    on_timeout: str = "continue"
    send: Channel | None = None
    fallback: Channel | None = None
    variants: tuple[Variant, ...] = ()
    strategy: str = "weights"  # how the variants share customers: VARIANT_STRATEGIES
    floor: float = 0.0  # under thompson, the share each variant keeps whatever the outcomes
    offer: str | None = None
    condition: str | None = None  # a send's own `if:`, or a branch's condition (SQL)


@dataclass(frozen=True)
class Journey:
    name: str
    description: str
    priority: int
    collision_groups: tuple[str, ...]
    holdout_percent: float
    entry: Entry
    re_entry: str
    cooldown: Duration | None
    goals: tuple[EventRule, ...]
    exits: tuple[EventRule, ...]
    segment_left: str | None
    steps: tuple[Step, ...]
    source: Path
    policies: dict[str, Any] = field(default_factory=dict)
    conversion_window: Duration = Duration("30 days", 30 * 86400)

    @property
    def model_name(self) -> str:
        return f"journey__{self.name}"

    def send_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "send"]

    def events_used(self) -> set[str]:
        rules = [*self.goals, *self.exits, *(s.until for s in self.steps if s.until)]
        if self.entry.event:
            rules.append(self.entry.event)
        names = {r.event for r in rules}
        if self.entry.kind == "inactivity":
            names.add(self.entry.activity_event)
        return names


@dataclass(frozen=True)
class Catalog:
    """What a declaration may refer to: events, segments, templates, profile columns."""

    events: frozenset[str]
    segments: frozenset[str]
    templates: dict[str, dict[str, str]]  # name -> parts (subject/html/text/...)


def load_event_catalog(path: Path) -> frozenset[str]:
    with open(path, newline="") as f:
        return frozenset(row["event_name"] for row in csv.DictReader(f))


def parse_duration(journey: str, field_path: str, value: Any) -> Duration:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        raise JourneyError(journey, field_path, f"'{value}' has no unit", f"write it with a unit, e.g. '{value} hours' (minutes, hours, days, weeks)")
    match = DURATION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise JourneyError(journey, field_path, f"'{value}' is not a duration", "write a number and a unit, e.g. '30 minutes', '24 hours', '14 days'")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise JourneyError(journey, field_path, "a duration must be positive", "use a number above 0")
    return Duration(value.strip(), amount * DURATION_UNITS[unit])


class _Reader:
    """Walks one journey's YAML, keeping the path for error messages."""

    def __init__(self, journey: str, catalog: Catalog):
        self.journey = journey
        self.catalog = catalog

    def fail(self, path: str, problem: str, fix: str):
        raise JourneyError(self.journey, path, problem, fix)

    def mapping(self, value: Any, path: str, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type(value).__name__}", "see docs/journeys.md for the shape of this field")
        unknown = set(value) - allowed
        if unknown:
            self.fail(f"{path}.{sorted(unknown)[0]}", "unknown field", f"use one of: {', '.join(sorted(allowed))}")
        missing = required - set(value)
        if missing:
            self.fail(f"{path}.{sorted(missing)[0]}", "is required", f"add '{sorted(missing)[0]}:' to {path}")
        return value

    def event_name(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in self.catalog.events:
            close = difflib.get_close_matches(str(value), sorted(self.catalog.events), n=1)
            hint = f"did you mean {close[0]}?" if close else "use an event from dbt_project/seeds/event_catalog.csv, or add yours there"
            self.fail(path, f"unknown event '{value}'", hint)
        return value

    def event_rule(self, value: Any, path: str) -> EventRule:
        if isinstance(value, str):
            return EventRule(self.event_name(value, path))
        rule = self.mapping(value, path, {"event", "where", "match"}, {"event"})
        match = rule.get("match") or []
        if isinstance(match, str):
            match = [match]
        for i, key in enumerate(match):
            if not isinstance(key, str) or not IDENTIFIER.match(key):
                self.fail(f"{path}.match[{i}]", f"'{key}' is not a property name", "list property names, e.g. match: [product_id]")
        return EventRule(self.event_name(rule["event"], f"{path}.event"), self.sql(rule.get("where"), f"{path}.where"), tuple(match))

    def sql(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "expected a SQL expression", "write a boolean SQL expression, e.g. \"{{ prop('price') }} > 20\"")
        if ";" in value:
            self.fail(path, "a condition cannot contain ';'", "write one boolean expression")
        return value.strip()

    def channel(self, value: Any, path: str) -> Channel:
        spec = self.mapping(value, path, {"channel", "template", "destination"}, {"channel", "destination"})
        channel = spec["channel"]
        if channel not in CHANNELS:
            self.fail(f"{path}.channel", f"unknown channel '{channel}'", f"use one of: {', '.join(CHANNELS)}")
        destination = spec["destination"]
        if destination not in CHANNEL_DESTINATIONS[channel]:
            self.fail(f"{path}.destination", f"'{destination}' cannot deliver {channel}", f"use one of: {', '.join(CHANNEL_DESTINATIONS[channel])}")
        template = spec.get("template")
        if channel != "ad_audience":
            if not template:
                self.fail(f"{path}.template", f"a {channel} send needs a template", "name a template in dbt_project/templates/")
            self.template(template, channel, f"{path}.template")
        return Channel(channel, template or "", destination)

    def template(self, name: Any, channel: str, path: str) -> None:
        parts = self.catalog.templates.get(name)
        if parts is None:
            self.fail(path, f"no template named '{name}'", f"add dbt_project/templates/{name}.yml with {', '.join(TEMPLATE_PARTS[channel])}")
        missing = [p for p in TEMPLATE_PARTS[channel] if p not in parts]
        if missing:
            self.fail(path, f"template '{name}' has no '{missing[0]}' part, which {channel} needs", f"add '{missing[0]}:' to dbt_project/templates/{name}.yml")


def _entry(r: _Reader, value: Any) -> Entry:
    spec = r.mapping(value, "entry", {"event", "where", "count", "within", "segment", "inactive_for", "activity_event", "profile", "context"})
    kinds = [k for k in ("event", "segment", "inactive_for") if k in spec]
    if len(kinds) != 1:
        r.fail("entry", "needs exactly one of event, segment, inactive_for", "e.g. 'event: cart_added', 'segment: champions' or 'inactive_for: 14 days'")
    context = spec.get("context") or []
    for i, key in enumerate(context):
        if not isinstance(key, str) or not IDENTIFIER.match(key):
            r.fail(f"entry.context[{i}]", f"'{key}' is not a property name", "list entry-event properties to keep, e.g. [cart_id, product_id]")
    profile = r.sql(spec.get("profile"), "entry.profile")
    if kinds == ["event"]:
        count = spec.get("count", 1)
        if not isinstance(count, int) or count < 1:
            r.fail("entry.count", f"'{count}' is not a positive whole number", "e.g. count: 3")
        within = parse_duration(r.journey, "entry.within", spec["within"]) if "within" in spec else None
        if count > 1 and within is None:
            r.fail("entry.within", f"count: {count} needs a window", "add e.g. 'within: 7 days'")
        rule = EventRule(r.event_name(spec["event"], "entry.event"), r.sql(spec.get("where"), "entry.where"))
        return Entry("event", event=rule, count=count, within=within, profile=profile, context=tuple(context))
    for extra in ("where", "count", "within"):
        if extra in spec:
            r.fail(f"entry.{extra}", "only applies to an event entry", f"remove '{extra}' or enter on an event")
    if kinds == ["segment"]:
        segment = spec["segment"]
        if segment not in r.catalog.segments:
            r.fail("entry.segment", f"unknown segment '{segment}'", f"use one of: {', '.join(sorted(r.catalog.segments)) or '(none yet)'}")
        return Entry("segment", segment=segment, profile=profile, context=tuple(context))
    activity = r.event_name(spec.get("activity_event", "session_started"), "entry.activity_event")
    inactive_for = parse_duration(r.journey, "entry.inactive_for", spec["inactive_for"])
    return Entry("inactivity", inactive_for=inactive_for, activity_event=activity, profile=profile, context=tuple(context))


def _steps(r: _Reader, value: Any, path: str, conditions: tuple[str, ...], seen: set[str]) -> list[Step]:
    if not isinstance(value, list) or not value:
        r.fail(path, "needs a list of steps", "add at least one step, e.g. '- wait: 1 hour'")
    steps: list[Step] = []
    for i, raw in enumerate(value):
        here = f"{path}[{i}]"
        if not isinstance(raw, dict):
            r.fail(here, "a step must be a mapping", "e.g. '- wait: 1 hour' or '- id: reminder\\n  send: {...}'")
        # `variants` goes with a send (its templates); alone it is still a send step.
        kinds = [k for k in ("wait", "wait_until", "send", "branch") if k in raw] or (["variants"] if "variants" in raw else [])
        if len(kinds) != 1:
            r.fail(here, f"a step needs one kind, found {', '.join(kinds) or 'none'}",
                   "give each step exactly one of wait, wait_until, send, variants, branch (one step per action)")
        kind = kinds[0]
        step_id = raw.get("id") or (f"{kind}_{len(seen) + 1}" if kind in ("wait", "wait_until") else None)
        if not step_id:
            r.fail(f"{here}.id", f"a {kind} step needs an id", "add e.g. 'id: reminder_email' (it names the action in decisions and action ids)")
        if not IDENTIFIER.match(step_id):
            r.fail(f"{here}.id", f"'{step_id}' is not a valid id", "use lower-case letters, digits and _")
        if step_id in seen:
            r.fail(f"{here}.id", f"step id '{step_id}' is used twice", "give every step its own id")
        seen.add(step_id)

        if kind == "wait":
            r.mapping(raw, here, {"id", "wait"})
            steps.append(Step(step_id, "wait", conditions, wait=parse_duration(r.journey, f"{here}.wait", raw["wait"])))
        elif kind == "wait_until":
            r.mapping(raw, here, {"id", "wait_until"})
            spec = r.mapping(raw["wait_until"], f"{here}.wait_until", {"event", "where", "match", "timeout", "on_timeout"}, {"event", "timeout"})
            on_timeout = spec.get("on_timeout", "continue")
            if on_timeout not in ON_TIMEOUT:
                r.fail(f"{here}.wait_until.on_timeout", f"'{on_timeout}' is not an option", "use continue or exit")
            until = r.event_rule({k: v for k, v in spec.items() if k in ("event", "where", "match")}, f"{here}.wait_until")
            steps.append(Step(step_id, "wait_until", conditions, until=until,
                              timeout=parse_duration(r.journey, f"{here}.wait_until.timeout", spec["timeout"]), on_timeout=on_timeout))
        elif kind == "branch":
            # The condition is evaluated once, when the branch is reached; the steps of
            # each arm carry the outcome, so a later change can't switch arms midway.
            r.mapping(raw, here, {"id", "branch"})
            spec = r.mapping(raw["branch"], f"{here}.branch", {"if", "then", "else"}, {"if", "then"})
            steps.append(Step(step_id, "branch", conditions, condition=r.sql(spec["if"], f"{here}.branch.if")))
            steps += _steps(r, spec["then"], f"{here}.branch.then", conditions + (f"branch_{step_id}",), seen)
            if spec.get("else"):
                steps += _steps(r, spec["else"], f"{here}.branch.else", conditions + (f"branch_{step_id}_else",), seen)
        else:
            allowed = {"id", "if", "send", "fallback", "offer", "variants", "strategy", "floor"}
            r.mapping(raw, here, allowed)
            send_spec = raw.get("send")
            variants: tuple[Variant, ...] = ()
            strategy, floor = _variant_strategy(r, raw, here)
            if kind == "variants":
                if "send" not in raw:
                    r.fail(f"{here}.send", "variants need a send (channel and destination)", "add 'send: {channel: email, destination: sendgrid}'")
            if "variants" in raw:
                variants = _variants(r, raw["variants"], f"{here}.variants", send_spec, strategy)
                if strategy == "thompson" and floor * len(variants) > 1:
                    r.fail(f"{here}.floor", f"a floor of {floor} for each of {len(variants)} variants adds up to more than 1",
                           f"use a floor of at most {1 / len(variants):.3g} (1 / the number of variants), e.g. 0.05")
                send_spec = {**send_spec, "template": variants[0].template}
            send = r.channel(send_spec, f"{here}.send")
            fallback = r.channel(raw["fallback"], f"{here}.fallback") if raw.get("fallback") else None
            if fallback and fallback.channel == send.channel:
                r.fail(f"{here}.fallback.channel", "the fallback uses the same channel", "fall back to another channel, e.g. sms for email")
            offer = raw.get("offer")
            if offer is not None and (not isinstance(offer, str) or not IDENTIFIER.match(offer)):
                r.fail(f"{here}.offer", f"'{offer}' is not a valid offer key", "use lower-case letters, digits and _")
            steps.append(Step(step_id, "send", conditions, send=send, fallback=fallback, variants=variants,
                              strategy=strategy, floor=floor, offer=offer,
                              condition=r.sql(raw.get("if"), f"{here}.if")))
    return steps


def _variant_strategy(r: _Reader, raw: dict, here: str) -> tuple[str, float]:
    """A send step's `strategy` and `floor` (only for thompson), validated."""
    strategy = raw.get("strategy", "weights")
    if "strategy" in raw and "variants" not in raw:
        r.fail(f"{here}.strategy", "a strategy needs variants to share customers between", "add 'variants:' or remove 'strategy:'")
    if strategy not in VARIANT_STRATEGIES:
        r.fail(f"{here}.strategy", f"unknown strategy '{strategy}'", f"use one of: {', '.join(VARIANT_STRATEGIES)}")
    if strategy != "thompson":
        if "floor" in raw:
            r.fail(f"{here}.floor", "a floor only applies to strategy: thompson", "remove 'floor:' or add 'strategy: thompson'")
        return strategy, 0.0
    floor = raw.get("floor", DEFAULT_VARIANT_FLOOR)
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor < 1:
        r.fail(f"{here}.floor", f"'{floor}' is not a share from 0 up to (not including) 1",
               "the share each variant keeps whatever the outcomes, e.g. floor: 0.05")
    return strategy, float(floor)


def _variants(r: _Reader, value: Any, path: str, send_spec: Any, strategy: str) -> tuple[Variant, ...]:
    weighted = strategy == "weights"
    if not isinstance(value, list) or len(value) < 2:
        r.fail(path, "needs at least two variants", "list variants with name, " + ("weight and " if weighted else "") + "template")
    channel = send_spec.get("channel") if isinstance(send_spec, dict) else None
    variants = []
    for i, raw in enumerate(value):
        if weighted:
            spec = r.mapping(raw, f"{path}[{i}]", {"name", "weight", "template"}, {"name", "weight", "template"})
            if not isinstance(spec["weight"], int) or spec["weight"] <= 0:
                r.fail(f"{path}[{i}].weight", f"'{spec['weight']}' is not a positive whole number", "weights are relative, e.g. 50 and 50")
        else:
            if isinstance(raw, dict) and "weight" in raw:
                r.fail(f"{path}[{i}].weight", f"strategy {strategy} sets the shares itself", "remove the weights (or use the default strategy, weights)")
            spec = r.mapping(raw, f"{path}[{i}]", {"name", "template"}, {"name", "template"})
        if channel in TEMPLATE_PARTS:
            r.template(spec["template"], channel, f"{path}[{i}].template")
        variants.append(Variant(str(spec["name"]), spec.get("weight", 0), spec["template"]))
    if len({v.name for v in variants}) != len(variants):
        r.fail(path, "two variants share a name", "give every variant its own name")
    return tuple(variants)


def parse_journey(data: Any, source: Path, catalog: Catalog) -> Journey:
    name = data.get("name") if isinstance(data, dict) else None
    journey = name if isinstance(name, str) else source.stem
    r = _Reader(journey, catalog)
    spec = r.mapping(data, "journey", {"name", "description", "priority", "collision_groups", "holdout_percent", "entry",
                                       "re_entry", "exit", "steps", "policies"}, {"name", "entry", "steps"})
    if not IDENTIFIER.match(journey):
        r.fail("name", f"'{journey}' is not a valid name", "use lower-case letters, digits and _")
    priority = spec.get("priority", 50)
    if not isinstance(priority, int):
        r.fail("priority", f"'{priority}' is not a whole number", "higher numbers win collisions, e.g. priority: 80")
    groups = spec.get("collision_groups", ["marketing"])
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list) or not groups or not all(isinstance(g, str) and IDENTIFIER.match(g) for g in groups):
        r.fail("collision_groups", f"'{groups}' is not a list of group names", "e.g. collision_groups: [marketing, sales]")
    holdout = spec.get("holdout_percent", 0)
    if not isinstance(holdout, (int, float)) or not 0 <= holdout < 100:
        r.fail("holdout_percent", f"'{holdout}' is not a percentage below 100", "e.g. holdout_percent: 10")

    re_entry, cooldown = spec.get("re_entry", "never"), None
    if isinstance(re_entry, dict):
        r.mapping(re_entry, "re_entry", {"cooldown"}, {"cooldown"})
        cooldown = parse_duration(journey, "re_entry.cooldown", re_entry["cooldown"])
        re_entry = "cooldown"
    elif re_entry not in ("never", "after_exit"):
        r.fail("re_entry", f"'{re_entry}' is not a re-entry policy", "use never, after_exit, or {cooldown: 30 days}")

    exit_spec = r.mapping(spec.get("exit") or {}, "exit", {"goals", "events", "segment_left", "conversion_window"})
    # How long after entry a goal still counts as this instance's conversion (for lift),
    # even once its last step is past; the ad-industry default is 30 days.
    conversion_window = parse_duration(journey, "exit.conversion_window", exit_spec.get("conversion_window", "30 days"))
    goals = tuple(r.event_rule(g, f"exit.goals[{i}]") for i, g in enumerate(exit_spec.get("goals") or []))
    exits = tuple(r.event_rule(g, f"exit.events[{i}]") for i, g in enumerate(exit_spec.get("events") or []))
    segment_left = exit_spec.get("segment_left")
    if segment_left is not None and segment_left not in catalog.segments:
        r.fail("exit.segment_left", f"unknown segment '{segment_left}'", f"use one of: {', '.join(sorted(catalog.segments))}")

    entry = _entry(r, spec["entry"])
    for rule_path, rule in [*((f"exit.goals[{i}]", g) for i, g in enumerate(goals)), *((f"exit.events[{i}]", e) for i, e in enumerate(exits))]:
        if rule.match and entry.kind != "event":
            r.fail(f"{rule_path}.match", "match compares with the entry event, but this journey enters on a " + entry.kind, "remove match or enter on an event")

    steps = tuple(_steps(r, spec["steps"], "steps", (), set()))
    if not any(s.kind == "send" for s in steps):
        r.fail("steps", "the journey never sends anything", "add a send step")
    policies = spec.get("policies") or {}
    if not isinstance(policies, dict):
        r.fail("policies", "expected a mapping", "override project policies by name, e.g. {quiet_hours: {start: '21:00', end: '08:00'}}")
    return Journey(
        name=journey, description=str(spec.get("description", "")).strip(), priority=priority,
        collision_groups=tuple(groups), holdout_percent=float(holdout),
        entry=entry, re_entry=re_entry, cooldown=cooldown, goals=goals, exits=exits, segment_left=segment_left,
        steps=steps, source=source, policies=policies, conversion_window=conversion_window,
    )


def load_templates(folder: Path) -> dict[str, dict[str, str]]:
    templates = {}
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError(f"{path}: a template is a mapping of part name to text (subject, html, text, title, body)")
        templates[path.stem] = data
    return templates


def load_journeys(journeys_dir: Path, catalog: Catalog) -> list[Journey]:
    journeys = []
    for path in sorted(journeys_dir.glob("*.yml")):
        if path.name == "policies.yml":
            continue
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise JourneyError(path.stem, "(file)", f"{path.name} is not valid YAML: {error}", "fix the YAML syntax") from None
        journeys.append(parse_journey(data, path, catalog))
    names = [j.name for j in journeys]
    for name in names:
        if names.count(name) > 1:
            raise JourneyError(name, "name", "two journey files declare this name", "rename one of them")
    return journeys
