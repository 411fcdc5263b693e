"""Local Braze REST API.

Contract enforced (Braze's API docs; body shapes are the JSON Schemas in
schemas/braze_*.json):
- ``Authorization: Bearer <REST API key>``; otherwise 401 ``{"message": "Invalid API key: ..."}``.
- POST /users/track: at most 75 objects in total across attributes, events and
  purchases (``per_array_limit=True`` models the legacy 75-per-array rule); a
  request over the limit is 400. Each object needs external_id (or braze_id or
  user_alias), events a name and time, purchases product_id, currency, price
  and time; a bad object does not fail the request: 201 with
  ``{"message": "success", "errors": [{"type", "input_array", "index"}]}``.
- POST /campaigns/trigger/send and /canvas/trigger/send: at most 50 recipients;
  unknown campaign or canvas is 400; 201 ``{"dispatch_id", "message": "success"}``.
- POST /subscription/status/set: at most 50 ids; unknown group is 400; 201.
- 429 with X-RateLimit-Limit / -Remaining / -Reset (UTC epoch seconds), no
  Retry-After. Fatal errors are ``{"message": ...}``.
State: users (attributes merged), events and purchases as received, sends by
(campaign or canvas, user, throughline_action_id), subscription state per group.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

TRACK_OBJECTS = 75
RECIPIENTS = 50
IDEMPOTENCY_PROPERTY = "throughline_action_id"


class BrazeServer(VendorServer):
    vendor = "braze"
    default_rate_limits = (WindowLimit(3000, 3.0),)  # /users/track's published default

    def __init__(self, api_key: str = "braze-rest-key-0123456789", per_array_limit: bool = False,
                 **options: Any) -> None:
        super().__init__(**options)
        self.api_key = api_key
        self.per_array_limit = per_array_limit
        self.users: dict[str, dict[str, Any]] = defaultdict(dict)
        self.events: list[dict[str, Any]] = []
        self.purchases: list[dict[str, Any]] = []
        self.campaigns: set[str] = set()
        self.canvases: set[str] = set()
        self.sends: Counter[tuple[str, str, str]] = Counter()  # (campaign/canvas id, user, action id) -> times
        self.subscription_groups: dict[str, dict[str, str]] = {}  # group -> identifier -> state

    def preload(self) -> None:
        for name in ("braze_users_track", "braze_trigger_send", "braze_subscription_status_set"):
            issues(name, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        header = incoming.headers.get("Authorization") or ""
        if header != f"Bearer {self.api_key}":
            return Reply(401, {"message": "Invalid API key: " + (header[7:11] + "..." if header else "missing")})
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        limit = self.rate_limits[0].limit if self.rate_limits else 3000
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"}
        if retry_after is not None:
            headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + retry_after))
        return Reply(429, {"message": "Too Many Requests"}, headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"message": "Internal Server Error"})

    def route(self, incoming: Incoming) -> Reply:
        if incoming.method != "POST":
            return Reply(404, {"message": "Not Found"})
        body = incoming.json()
        if incoming.path == "/users/track":
            return self._track(body)
        if incoming.path in ("/campaigns/trigger/send", "/canvas/trigger/send"):
            return self._trigger(incoming.path.split("/")[1], body)
        if incoming.path == "/subscription/status/set":
            return self._subscription(body)
        return Reply(404, {"message": "Not Found"})

    def _invalid(self, found: list[Any]) -> Reply:
        return Reply(400, {"message": f"Invalid request: {found[0].pointer} {found[0].message}"})

    def _track(self, body: Any) -> Reply:
        found = issues("braze_users_track", body)
        if found:
            return self._invalid(found)
        counts = {array: len(body.get(array, [])) for array in ("attributes", "events", "purchases")}
        if self.per_array_limit and max(counts.values()) > TRACK_OBJECTS:
            return Reply(400, {"message": f"Too many objects: at most {TRACK_OBJECTS} per array"})
        if not self.per_array_limit and sum(counts.values()) > TRACK_OBJECTS:
            return Reply(400, {"message": f"Too many objects: at most {TRACK_OBJECTS} attributes, events and "
                                          "purchases combined per request"})
        errors = []
        processed = Counter()
        with self.lock:
            for array in ("attributes", "events", "purchases"):
                for index, item in enumerate(body.get(array, [])):
                    problem = _object_problem(array, item)
                    if problem:
                        errors.append({"type": problem, "input_array": array, "index": index})
                        continue
                    processed[array] += 1
                    who = str(item.get("external_id") or item.get("braze_id"))
                    if array == "attributes":
                        self.users[who].update(item)
                    else:
                        (self.events if array == "events" else self.purchases).append(dict(item))
        answer: dict[str, Any] = {"message": "success"}
        answer.update({f"{array}_processed": n for array, n in processed.items()})
        if errors:
            answer["errors"] = errors
        return Reply(201, answer)

    def _trigger(self, kind: str, body: Any) -> Reply:
        found = issues("braze_trigger_send", body)
        if found:
            return self._invalid(found)
        identifier = body.get("campaign_id") if kind == "campaigns" else body.get("canvas_id")
        known = self.campaigns if kind == "campaigns" else self.canvases
        if identifier not in known:
            return Reply(400, {"message": f"Invalid {kind[:-1]}_id: {identifier}"})
        if not body.get("recipients") and not body.get("broadcast") and not body.get("audience"):
            return Reply(400, {"message": "Either recipients or audience must be provided, or broadcast set"})
        properties_key = "canvas_entry_properties" if kind == "canvas" else "trigger_properties"
        with self.lock:
            for recipient in body.get("recipients", []):
                action = (recipient.get(properties_key) or {}).get(IDEMPOTENCY_PROPERTY, "")
                self.sends[(identifier, str(recipient.get("external_user_id")), str(action))] += 1
        return Reply(201, {"dispatch_id": uuid.uuid4().hex, "message": "success"})

    def _subscription(self, body: Any) -> Reply:
        found = issues("braze_subscription_status_set", body)
        if found:
            return self._invalid(found)
        group = body["subscription_group_id"]
        with self.lock:
            if group not in self.subscription_groups:
                return Reply(400, {"message": f"Invalid subscription_group_id: {group}"})
            for kind in ("external_id", "email", "phone"):
                values = body.get(kind) or []
                for value in [values] if isinstance(values, str) else values:
                    self.subscription_groups[group][value] = body["subscription_state"]
        return Reply(201, {"message": "success"})

    def subscribed(self, group: str) -> set[str]:
        with self.lock:
            return {who for who, state in self.subscription_groups.get(group, {}).items() if state == "subscribed"}


def _object_problem(array: str, item: dict[str, Any]) -> str | None:
    if not any(item.get(k) for k in ("external_id", "braze_id", "user_alias")):
        return "'external_id', 'braze_id', or 'user_alias' is required"
    if array == "attributes":
        email = item.get("email")
        if email is not None and ("@" not in str(email) or "." not in str(email).rpartition("@")[2]):
            return f"Invalid email address: {email}"
        return None
    if not item.get("time"):
        return "'time' is required"
    if array == "events" and not item.get("name"):
        return "'name' is required"
    if array == "purchases":
        missing = [k for k in ("product_id", "currency", "price") if item.get(k) in (None, "")]
        if missing:
            return f"'{missing[0]}' is required"
    return None
