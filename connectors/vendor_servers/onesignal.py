"""Local OneSignal REST API: create notification (push).

Contract enforced (documentation.onesignal.com/reference/push-notification,
/docs/idempotent-notification-requests, /reference/rate-limits):
- ``Authorization: Key <REST API key>`` (the newer form; ``Basic <key>`` is the legacy one and is
  accepted too); otherwise 403 ``{"errors": ["Access denied. ..."]}``; the body's app_id must be the key's app.
- POST /notifications validated against schemas/onesignal_create_notification.json (up to 20,000
  aliases); 400 ``{"errors": [...]}`` otherwise.
- Aliases without a push subscription come back in a 200 as ``errors.invalid_aliases.external_id``;
  when none is subscribed: 200 with ``id: ""`` and ``errors: ["All included players are not subscribed"]``.
- ``idempotency_key``: the same key answers the first notification again and sends nothing.
- 429 ``{"errors": ["API rate limit exceeded"]}``, with Retry-After sometimes.
"""

from __future__ import annotations

import uuid
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

SCHEMA = "onesignal_create_notification"
DEMO_APP_ID = "5eb5a37e-b458-11e3-ac11-000c2940e62c"
NOT_SUBSCRIBED = "All included players are not subscribed"


class OneSignalServer(VendorServer):
    vendor = "onesignal"
    default_rate_limits = (WindowLimit(150, 1.0),)  # create-notification requests per app (rate-limits page)

    def __init__(self, app_id: str = DEMO_APP_ID, api_key: str = "os_v2_app_test0123456789abcdef", **options: Any):
        super().__init__(**options)
        self.app_id = app_id
        self.api_key = api_key
        self.unsubscribed: set[str] = set()  # external ids with no push subscription
        self.notifications: list[dict[str, Any]] = []
        self.by_idempotency_key: dict[str, dict[str, Any]] = {}

    def preload(self) -> None:
        issues(SCHEMA, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") not in (f"Key {self.api_key}", f"Basic {self.api_key}"):
            return Reply(403, {"errors": ["Access denied.  Please include an 'Authorization: Key ...' header "
                                          "with a valid API key (https://documentation.onesignal.com/docs/keys-and-ids)."]})
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        return Reply(429, {"errors": ["API rate limit exceeded"]}, headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"errors": ["Internal server error"]})

    def route(self, incoming: Incoming) -> Reply:
        if incoming.path == "/notifications" and incoming.method == "POST":
            return self._create(incoming)
        return Reply(404, {"errors": ["Not Found"]})

    def _create(self, incoming: Incoming) -> Reply:
        try:
            body = incoming.json()
        except (ValueError, UnicodeDecodeError):
            return Reply(400, {"errors": ["Invalid JSON"]})
        found = issues(SCHEMA, body)
        if found:
            return Reply(400, {"errors": [f"{found[0].pointer or '/'}: {found[0].message}"]})
        if body["app_id"] != self.app_id:
            return Reply(400, {"errors": ["app_id not found. You may be missing a Content-Type: application/json header."]})
        with self.lock:
            earlier = self.by_idempotency_key.get(body.get("idempotency_key", ""))
        if earlier is not None:
            return Reply(200, earlier)
        targets = body.get("include_aliases", {}).get("external_id") or body.get("include_subscription_ids") or []
        invalid = [t for t in targets if t in self.unsubscribed]
        if targets and len(invalid) == len(targets):
            answer: dict[str, Any] = {"id": "", "errors": [NOT_SUBSCRIBED]}
        else:
            answer = {"id": str(uuid.uuid4()), "external_id": None}
            if invalid:
                answer["errors"] = {"invalid_aliases": {"external_id": invalid}}
            with self.lock:
                self.notifications.append({**body, "id": answer["id"], "delivered_to": [t for t in targets if t not in invalid]})
        with self.lock:
            if body.get("idempotency_key"):
                self.by_idempotency_key[body["idempotency_key"]] = answer
        return Reply(200, answer)
