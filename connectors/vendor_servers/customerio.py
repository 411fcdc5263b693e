"""Local Customer.io: the Track API and the App API's transactional email, on one port.

Contract enforced (Customer.io's API docs; body shapes are the JSON Schemas in
schemas/customerio_*.json):
- Track API (/api/...): HTTP Basic ``site_id:track_api_key``. App API (/v1/...):
  ``Authorization: Bearer <app api key>``. Otherwise 401 ``{"meta": {"error": ...}}``.
- POST /api/v2/batch: at most 500 KB (413); each entry at most 32 KB, with
  identifiers (id, email or cio_id), a known action, an event ``name``, at most
  300 attributes, names up to 150 bytes and values up to 1000 bytes. Bad entries
  do not fail the batch: 207 ``{"errors": [{"batch_index", "reason", "field", "message"}]}``.
  Events with an ``id`` already seen are stored once.
- POST /api/v1/segments/{id}/add_customers | remove_customers?id_type=id|email|cio_id
  with ``ids`` (1..1000); unknown segment 404.
- GET /api/v1/accounts/region.
- POST /v1/send/email: known ``transactional_message_id`` and a valid ``to``;
  200 ``{"delivery_id", "queued_at"}``; errors 400 ``{"meta": {"error": ...}}``.
- Throttling: 429 ``{"meta": {"error": "Too many requests"}}`` (Retry-After only
  when the fault gives one). Track API fair use is 100 requests/s.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

BATCH_MAX_BYTES = 500 * 1024
ENTRY_MAX_BYTES = 32 * 1024
MAX_ATTRIBUTES = 300
_SEGMENT = re.compile(r"^/api/v1/segments/([^/]+)/(add_customers|remove_customers)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACTIONS = frozenset({"identify", "event", "delete", "page", "screen", "suppress", "unsuppress", "add_device",
                     "delete_device", "merge"})


def _meta(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"meta": {"error": message}}, headers or {})


class CustomerIoServer(VendorServer):
    vendor = "customerio"
    default_rate_limits = (WindowLimit(100, 1.0),)

    def __init__(self, site_id: str = "site-0123", track_api_key: str = "track-key-0123456789",
                 app_api_key: str = "app-key-0123456789", **options: Any) -> None:
        super().__init__(**options)
        self.site_id = site_id
        self.track_api_key = track_api_key
        self.app_api_key = app_api_key
        self.people: dict[str, dict[str, Any]] = {}  # by id or email
        self.events: dict[str, dict[str, Any]] = {}  # by event id
        self.event_submissions: Counter[str] = Counter()
        self.segments: dict[str, set[str]] = {}
        self.transactional_ids: set[str] = {"1"}
        self.messages: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by action id

    def preload(self) -> None:
        for name in ("customerio_track_v2_batch", "customerio_segment_membership", "customerio_send_email"):
            issues(name, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        header = incoming.headers.get("Authorization") or ""
        if incoming.path.startswith("/v1/"):
            if header != f"Bearer {self.app_api_key}":
                return _meta(401, "Unauthorized request: invalid App API key")
            return None
        expected = base64.b64encode(f"{self.site_id}:{self.track_api_key}".encode()).decode()
        if header != f"Basic {expected}":
            return _meta(401, "Unauthorized request")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        return _meta(429, "Too many requests", {"Retry-After": str(int(retry_after))} if retry_after is not None else {})

    def server_error_reply(self, status: int) -> Reply:
        return _meta(status, "internal server error")

    def route(self, incoming: Incoming) -> Reply:
        if incoming.method == "GET" and incoming.path == "/api/v1/accounts/region":
            return Reply(200, {"url": "https://track.customer.io", "data_center": "us", "environment_id": 1})
        if incoming.method != "POST":
            return _meta(404, "not found")
        if incoming.path == "/api/v2/batch":
            return self._batch(incoming)
        if match := _SEGMENT.match(incoming.path):
            return self._segment(match.group(1), match.group(2), incoming)
        if incoming.path == "/v1/send/email":
            return self._send_email(incoming)
        return _meta(404, "not found")

    # ------------------------------------------------------------ Track API

    def _batch(self, incoming: Incoming) -> Reply:
        if len(incoming.body) > BATCH_MAX_BYTES:
            return _meta(413, "request body must be smaller than 500kb")
        body = incoming.json()
        found = issues("customerio_track_v2_batch", body)
        if found:
            return _meta(400, f"{found[0].pointer}: {found[0].message}")
        errors = []
        with self.lock:
            for index, entry in enumerate(body["batch"]):
                problem = _entry_problem(entry)
                if problem:
                    field, message = problem
                    errors.append({"batch_index": index, "reason": "invalid", "field": field, "message": message})
                    continue
                self._apply(entry)
        if errors:
            return Reply(207, {"errors": errors})
        return Reply(200, {})

    def _apply(self, entry: dict[str, Any]) -> None:
        who = next(iter(entry["identifiers"].values()))
        action = entry["action"]
        if action == "identify":
            self.people.setdefault(who, {}).update(entry.get("attributes") or {})
        elif action == "delete":
            self.people.pop(who, None)
            for members in self.segments.values():
                members.discard(who)
        elif action == "event":
            event_id = entry.get("id") or uuid.uuid4().hex
            self.event_submissions[event_id] += 1
            self.events.setdefault(event_id, {"person": who, **entry})

    def _segment(self, segment: str, action: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        found = issues("customerio_segment_membership", body)
        if found:
            return _meta(400, f"{found[0].pointer}: {found[0].message}")
        id_type = incoming.param("id_type") or "id"
        if id_type not in ("id", "email", "cio_id"):
            return _meta(400, "id_type must be one of id, email, cio_id")
        with self.lock:
            if segment not in self.segments:
                return _meta(404, "segment not found")
            members = self.segments[segment]
            for value in body["ids"]:
                if action == "add_customers":
                    members.add(value)
                else:
                    members.discard(value)
        return Reply(200, {})

    # ------------------------------------------------------------ App API

    def _send_email(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        found = issues("customerio_send_email", body)
        if found:
            return _meta(400, f"{found[0].pointer.strip('/') or 'body'}: {found[0].message}")
        message_id = str(body.get("transactional_message_id", ""))
        if message_id not in self.transactional_ids:
            return _meta(400, '"transactional_message_id" not found')
        if not _EMAIL.match(body["to"].rpartition("<")[2].rstrip(">")):
            return _meta(400, f"\"to\" is not a valid email address: {body['to']}")
        action = (body.get("headers") or {}).get("X-Throughline-Action-Id") or (
            body.get("message_data") or {}).get("throughline_action_id") or ""
        delivery = {"delivery_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                    "queued_at": int(time.time())}
        with self.lock:
            self.messages[action].append({**delivery, "to": body["to"], "data": body.get("message_data")})
        return Reply(200, delivery)


def _entry_problem(entry: dict[str, Any]) -> tuple[str, str] | None:
    if len(json.dumps(entry, separators=(",", ":")).encode("utf-8")) > ENTRY_MAX_BYTES:
        return "batch", "entry must be smaller than 32kb"
    identifiers = entry.get("identifiers")
    if entry["type"] == "person":
        if not isinstance(identifiers, dict) or len(identifiers) != 1 or not any(
                isinstance(identifiers.get(k), str) and identifiers.get(k) for k in ("id", "email", "cio_id")):
            return "identifiers", "identifiers must hold exactly one of id, email or cio_id"
    if entry["action"] not in ACTIONS:
        return "action", f"unknown action {entry['action']!r}"
    if entry["action"] == "event" and not entry.get("name"):
        return "name", "name cannot be blank"
    attributes = entry.get("attributes") or {}
    if len(attributes) > MAX_ATTRIBUTES:
        return "attributes", f"cannot identify more than {MAX_ATTRIBUTES} attributes in one request"
    for name, value in attributes.items():
        if len(name.encode("utf-8")) > 150:
            return "attributes", "attribute name cannot be longer than 150 bytes"
        if len(json.dumps(value).encode("utf-8")) > 1000 and entry["action"] == "identify":
            return "attributes", f"value for attribute '{name}' cannot be longer than 1000 bytes"
    email = attributes.get("email")
    if entry["action"] == "identify" and email is not None and not _EMAIL.match(str(email)):
        return "attributes.email", f"email is invalid: {email}"
    return None
