"""Syncs as declared in dbt: a model in `models/syncs/` whose YAML `meta.sync` says where
its rows go. This module reads those declarations out of the dbt manifest and validates
them, so a wrong one fails when Dagster loads the definitions, with a message that names
the model, the field and the fix.

    models:
      - name: champions_to_meta
        config:
          contract: {enforced: true}
          meta:
            sync:
              destination: meta            # a connectors registry name
              operation: audience          # audience | profiles | messages | events
              mode: mirror                 # upsert | mirror | add_only
              target_env: THROUGHLINE_META_CHAMPIONS_AUDIENCE_ID   # or target: <id>
              key: customer_id             # the member key column
              fields: {email: email, phone: phone}   # record field: column (default: every column)
              schedule: "*/15 * * * *"     # optional; else the 5-minute tick
              max_shrink_percent: 20       # refuse a run that would shrink the audience more
              max_reject_percent: 5        # the reject-rate check fails above this
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from connectors import ConfigurationError, Operation, available, destination_class

SYNC_FOLDER = "syncs"  # models/syncs/: every model in it is a sync
META_KEY = "sync"

OPERATIONS = ("audience", "profiles", "messages", "events")
MODES = ("upsert", "mirror", "add_only")
DEFAULT_MODE = {"audience": "upsert", "profiles": "upsert", "messages": "add_only", "events": "add_only"}
# What each sync operation asks of the destination: (adds and changes, removes).
CONNECTOR_OPERATIONS = {
    "audience": (Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS),
    "profiles": (Operation.UPSERT_PROFILES, None),
    "events": (Operation.TRACK_EVENTS, None),
    "messages": (Operation.SEND_MESSAGES, None),
}
# The record vocabulary every connector reads (connectors/base.py); other columns travel
# in `properties`.
RECORD_FIELDS = frozenset({
    "email", "phone", "external_id", "first_name", "last_name", "country_code", "postal_code", "name",
    "properties", "status", "subject", "text", "html", "template_id", "template_data", "from_email",
    "campaign_id", "canvas_id", "token", "title", "body", "data", "link", "event_name", "occurred_at", "value",
    "product_id", "currency", "quantity",
})
# Fields that say who a member is at the destination: when they change, the old identity
# is removed before the new one is added (an ad platform matches on them).
IDENTITY_FIELDS = ("email", "phone", "external_id", "first_name", "last_name", "country_code", "postal_code")
# Columns a message sync model must carry: what the ledger records and the renderer reads.
MESSAGE_COLUMNS = ("action_id", "journey", "step_id", "customer_id", "channel", "destination", "template", "offer", "context", "decided_at")
CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")
ALLOWED_KEYS = {
    "destination", "operation", "mode", "target", "target_env", "key", "fields", "schedule",
    "env_prefix", "max_shrink_percent", "max_reject_percent", "batch_size", "description",
}


class SyncDeclarationError(ValueError):
    """A sync declaration problem: which model, which field, what is wrong, the fix."""

    def __init__(self, model: str, field_path: str, problem: str, fix: str):
        self.model, self.field_path, self.problem, self.fix = model, field_path, problem, fix
        super().__init__(f"sync model '{model}', field 'meta.{META_KEY}.{field_path}': {problem}. Fix: {fix}")


@dataclass(frozen=True)
class SyncSpec:
    name: str  # the model's name; also the sync's name everywhere (CLI, tables, assets)
    unique_id: str
    relation: str  # schema.table the sync reads
    destination: str
    operation: str
    mode: str
    key: str
    columns: tuple[str, ...]
    fields: Mapping[str, str]  # record field -> column
    properties: tuple[str, ...] = ()  # columns sent inside `properties`
    target: str | None = None
    target_env: str | None = None
    env_prefix: str | None = None
    schedule: str | None = None
    max_shrink_percent: float = 20.0
    max_reject_percent: float = 5.0
    batch_size: int | None = None
    description: str = ""
    model_meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def add_operation(self) -> Operation:
        return CONNECTOR_OPERATIONS[self.operation][0]

    @property
    def remove_operation(self) -> Operation | None:
        return CONNECTOR_OPERATIONS[self.operation][1]

    @property
    def removes(self) -> bool:
        """Whether departed members are removed at the destination (mirror only)."""
        return self.mode == "mirror"

    @property
    def updates(self) -> bool:
        return self.mode != "add_only"

    def resolved_target(self, env: Mapping[str, str] | None = None) -> str | None:
        """The list or audience id: `target`, else the `target_env` variable, read at run time."""
        if self.target:
            return self.target
        if self.target_env:
            value = (os.environ if env is None else env).get(self.target_env)
            if not value:
                raise ConfigurationError(f"sync {self.name}: environment variable {self.target_env} (its target list or audience id) is not set")
            return value
        return None

    def summary(self) -> dict[str, Any]:
        """What is safe to show: no secrets, the target's variable name rather than its value."""
        return {
            "destination": self.destination, "operation": self.operation, "mode": self.mode, "key": self.key,
            "target": self.target or (f"${self.target_env}" if self.target_env else None),
            "schedule": self.schedule or "tick (every 5 minutes)", "model": self.relation,
        }


def is_sync_model(node: Mapping[str, Any]) -> bool:
    fqn = node.get("fqn") or []
    return node.get("resource_type") == "model" and len(fqn) > 2 and fqn[1] == SYNC_FOLDER


def load_syncs(manifest: Mapping[str, Any]) -> list[SyncSpec]:
    """Every sync declared in the manifest, validated; raises SyncDeclarationError."""
    specs = [parse_sync(node) for node in manifest.get("nodes", {}).values() if is_sync_model(node)]
    return sorted(specs, key=lambda spec: spec.name)


def _meta(node: Mapping[str, Any]) -> Mapping[str, Any]:
    return (node.get("config") or {}).get("meta") or node.get("meta") or {}


def parse_sync(node: Mapping[str, Any]) -> SyncSpec:
    model = node["name"]
    declared = _meta(node).get(META_KEY)

    def fail(path: str, problem: str, fix: str) -> None:
        raise SyncDeclarationError(model, path, problem, fix)

    if not isinstance(declared, Mapping):
        raise SyncDeclarationError(model, "", f"every model in models/{SYNC_FOLDER}/ is a sync, and this one has no meta.{META_KEY}",
                                   f"declare `meta: {{{META_KEY}: {{destination: ..., operation: ...}}}}` in its YAML, or move the model out of models/{SYNC_FOLDER}/")
    unknown = set(declared) - ALLOWED_KEYS
    if unknown:
        name = sorted(unknown)[0]
        close = difflib.get_close_matches(name, ALLOWED_KEYS, n=1)
        fail(name, "is not a sync setting", f"use {close[0]!r}" if close else f"remove it; settings are {', '.join(sorted(ALLOWED_KEYS))}")
    config = node.get("config") or {}
    if not (config.get("contract") or {}).get("enforced"):
        raise SyncDeclarationError(model, "", "its columns are the payload sent to a destination, so they must be an enforced contract",
                                   "add `contract: {enforced: true}` to the model's config and list every column with its data_type")
    columns = tuple(node.get("columns") or {})

    destination = declared.get("destination")
    names = available()
    if destination not in names:
        close = difflib.get_close_matches(str(destination), names, n=1)
        fail("destination", f"{destination!r} is not a known destination", f"use {close[0]!r}" if close else f"use one of {', '.join(names)}")
    operation = declared.get("operation")
    if operation not in OPERATIONS:
        fail("operation", f"{operation!r} is not a sync operation", f"use one of {', '.join(OPERATIONS)}")
    capabilities = destination_class(destination).capabilities
    for needed in filter(None, CONNECTOR_OPERATIONS[operation]):
        if needed not in capabilities.operations:
            able = [n for n in names if needed in destination_class(n).capabilities.operations]
            fail("operation", f"{destination} cannot do {operation} (it has no {needed.value})", f"send {operation} to one of {', '.join(able)}")
    mode = declared.get("mode", DEFAULT_MODE[operation])
    if mode not in MODES:
        fail("mode", f"{mode!r} is not a sync mode", f"use one of {', '.join(MODES)}")
    if operation in ("messages", "events") and mode != "add_only":
        fail("mode", f"{operation} are sent once, never updated or removed", "use mode: add_only, or leave mode out")
    if operation == "profiles" and mode == "mirror":
        fail("mode", "mirror would delete people from the destination when they leave the model", "use mode: upsert or add_only")

    key = declared.get("key", "action_id" if operation == "messages" else None)
    if not key:
        fail("key", "is required: the column that identifies a member (or an event)", "add `key: customer_id` (or your key column)")
    if columns and key not in columns:
        fail("key", f"column {key!r} is not among the model's columns ({', '.join(columns)})", "name one of the contract's columns")
    if operation == "messages":
        missing = [c for c in MESSAGE_COLUMNS if c not in columns]
        if missing:
            fail("operation", f"a message sync model needs the columns {', '.join(missing)}",
                 "select them from journey_actions_due (see models/syncs/messages_to_sendgrid.sql)")

    mapping = declared.get("fields")
    if mapping is None:
        fields = {c: c for c in columns if c in RECORD_FIELDS and c != key}
        properties = tuple(c for c in columns if c not in RECORD_FIELDS and c != key and operation != "messages")
    elif isinstance(mapping, Mapping):
        for record_field, column in mapping.items():
            if record_field not in RECORD_FIELDS:
                close = difflib.get_close_matches(str(record_field), RECORD_FIELDS, n=1)
                fail(f"fields.{record_field}", "is not a record field connectors read",
                     f"use {close[0]!r}" if close else f"use one of {', '.join(sorted(RECORD_FIELDS))}")
            if column not in columns:
                fail(f"fields.{record_field}", f"column {column!r} is not among the model's columns", f"name one of {', '.join(columns)}")
        fields = dict(mapping)
        properties = ()
    else:
        fail("fields", "must map record fields to columns", "write e.g. `fields: {email: email_address, phone: phone}`")
    if operation != "messages" and not fields and not properties:
        fail("fields", "no column maps to a record field", f"name columns after record fields ({', '.join(IDENTITY_FIELDS)}) or add `fields:`")

    target, target_env = declared.get("target"), declared.get("target_env")
    needs_target = any(op in capabilities.needs_target for op in filter(None, CONNECTOR_OPERATIONS[operation]))
    if needs_target and not (target or target_env):
        fail("target_env", f"{destination} needs the id of the list or audience to {operation} into",
             f"add `target_env: THROUGHLINE_{model.upper()}_TARGET` (read at run time) or `target: <id>`")
    schedule = declared.get("schedule")
    if schedule is not None and not (isinstance(schedule, str) and CRON.match(schedule)):
        fail("schedule", f"{schedule!r} is not a cron expression", "write five fields, e.g. \"*/15 * * * *\"")

    def percent(name: str, default: float) -> float:
        value = declared.get(name, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 100:
            fail(name, f"{value!r} is not a percentage", f"write a number from 0 to 100, e.g. {name}: {default:g}")
        return float(value)

    batch_size = declared.get("batch_size")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        fail("batch_size", f"{batch_size!r} is not a positive whole number", "write e.g. batch_size: 100, or leave it out")
    return SyncSpec(
        name=model,
        unique_id=node["unique_id"],
        relation=f"{node['schema']}.{node.get('alias') or model}",
        destination=destination,
        operation=operation,
        mode=mode,
        key=key,
        columns=columns,
        fields=fields,
        properties=properties,
        target=str(target) if target is not None else None,
        target_env=target_env,
        env_prefix=declared.get("env_prefix"),
        schedule=schedule,
        max_shrink_percent=percent("max_shrink_percent", 20.0),
        max_reject_percent=percent("max_reject_percent", 5.0),
        batch_size=batch_size,
        description=str(declared.get("description") or node.get("description") or ""),
        model_meta=dict(declared),
    )
