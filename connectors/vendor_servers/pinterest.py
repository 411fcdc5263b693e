"""Local Pinterest API v5: customer lists (the records behind a CUSTOMER_LIST audience).

Contract enforced (Pinterest's OpenAPI document, github.com/pinterest/api-description, and
its API reference). Bodies are validated against the JSON Schemas written from that
document (schemas/pinterest_customer_list_*.json; specs/README.md says why it is not copied):
- ``Authorization: Bearer <token>``; otherwise 401 ``{"code": 2, "message": "Authentication failed."}``.
  An ad account the token cannot reach: 403 code 29.
- PATCH /v5/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}: ``{operation_type:
  ADD|REMOVE, records: "<comma-separated>"}``; records are lower-case emails or SHA1, SHA256
  or MD5 hex digests. Pinterest answers with the CustomerList (counters updated), never with
  per-record outcomes; a record that is neither is refused with the whole request (400,
  code 1). Unknown list: 404.
- POST /v5/ad_accounts/{ad_account_id}/customer_lists: ``{name, records, list_type}``.
- GET /v5/ad_accounts/{ad_account_id} for a token check.
- At most 10,000 records a request: Pinterest publishes no number, this is the model's (and
  the connector's) bound so the batch-splitting path is exercised.
- Throttling: the ads_write category, 400 requests a minute per user per app; 429
  ``{"code": 8, "message": "This request exceeded a rate limit..."}`` (the document's own
  example), Retry-After only when a fault gives one.
Members are kept per list as SHA-256 digests (a plain email is hashed on arrival).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues
from connectors.vendor_servers.openapi import SchemaIssue

MAX_RECORDS = 10_000
DEMO_AD_ACCOUNT = "549755885175"
DEMO_LIST = "2542620001"  # exists from the start, for the demo and benchmarks
_ACCOUNT = re.compile(r"^/v5/ad_accounts/([^/]+)$")
_LISTS = re.compile(r"^/v5/ad_accounts/([^/]+)/customer_lists$")
_LIST = re.compile(r"^/v5/ad_accounts/([^/]+)/customer_lists/([^/]+)$")
_ID = re.compile(r"^\d{1,18}$")
_DIGEST = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$")  # MD5, SHA1, SHA256
_EMAIL = re.compile(r"^[^@\sA-Z]+@[^@\sA-Z]+\.[^@\sA-Z]+$")
RATE_LIMIT_MESSAGE = ("This request exceeded a rate limit. This can happen if the client exceeds one\n"
                      "of the published rate limits within a short time window.")
_BODIES = ("update", "create")  # schemas/pinterest_customer_list_<kind>.json


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message})


def body_issues(kind: str, body: Any) -> list[SchemaIssue]:
    return issues(f"pinterest_customer_list_{kind}", body)


class PinterestServer(VendorServer):
    vendor = "pinterest"
    default_rate_limits = (WindowLimit(400, 60.0),)

    def __init__(self, access_token: str = "pina_test-pinterest-ads-token-0123", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.ad_accounts = {DEMO_AD_ACCOUNT}
        self.lists: dict[str, dict[str, Any]] = {}
        self.records_applied = 0
        self.create_list(DEMO_LIST)

    # ------------------------------------------------------------ test helpers

    def create_list(self, list_id: str | None = None, ad_account_id: str = DEMO_AD_ACCOUNT, name: str = "demo",
                    list_type: str = "EMAIL") -> str:
        with self.lock:
            list_id = list_id or str(2542620100 + len(self.lists))
            now = int(time.time())
            self.lists.setdefault(list_id, {
                "ad_account_id": ad_account_id, "id": list_id, "name": name, "list_type": list_type,
                "created_time": now, "updated_time": now, "num_batches": 0, "num_uploaded_user_records": 0,
                "num_removed_user_records": 0, "status": "PROCESSING", "type": "customerlist", "members": set()})
        return list_id

    def members(self, list_id: str) -> set[str]:
        with self.lock:
            return set(self.lists[list_id]["members"])

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        for kind in _BODIES:
            body_issues(kind, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, 2, "Authentication failed.")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _error(429, 8, RATE_LIMIT_MESSAGE)
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _error(status, status, "Internal server error.")

    def route(self, incoming: Incoming) -> Reply:
        for pattern, method, handler in ((_LIST, "PATCH", self._update), (_LISTS, "POST", self._create),
                                         (_ACCOUNT, "GET", self._account)):
            match = pattern.match(incoming.path)
            if match and incoming.method == method:
                if not all(_ID.match(part) for part in match.groups()):
                    return _error(400, 1, "Invalid parameters.")
                if match.group(1) not in self.ad_accounts:
                    return _error(403, 29, "You are not permitted to access that resource.")
                return handler(incoming, *match.groups())
        return _error(404, 404, "Not found.")

    def _account(self, incoming: Incoming, ad_account_id: str) -> Reply:
        return Reply(200, {"id": ad_account_id, "name": "Throughline demo", "country": "US", "currency": "USD",
                           "owner": {"username": "throughline"}})

    def _records(self, kind: str, incoming: Incoming) -> tuple[dict[str, Any] | None, list[str], Reply | None]:
        try:
            body = incoming.json()
        except ValueError:
            return None, [], _error(400, 1, "Invalid parameters.")
        found = body_issues(kind, body)
        if found:
            return None, [], _error(400, 1, f"Invalid parameters. {found[0].pointer}: {found[0].message}")
        records = [record.strip() for record in body["records"].split(",") if record.strip()]
        if len(records) > MAX_RECORDS:
            return None, [], _error(400, 1, f"Invalid parameters. At most {MAX_RECORDS} records a request.")
        if any(not (_DIGEST.match(record) or _EMAIL.match(record)) for record in records):
            return None, [], _error(400, 1, "Invalid parameters. Records must be lower-case emails or SHA1, "
                                            "SHA256 or MD5 hex digests.")
        return body, [r if _DIGEST.match(r) else hashlib.sha256(r.encode()).hexdigest() for r in records], None

    def _update(self, incoming: Incoming, ad_account_id: str, list_id: str) -> Reply:
        body, digests, refusal = self._records("update", incoming)
        if refusal is not None:
            return refusal
        with self.lock:
            entry = self.lists.get(list_id)
            if entry is None or entry["ad_account_id"] != ad_account_id:
                return _error(404, 404, "Customer list not found.")
            self._apply(entry, body["operation_type"], digests)
            return Reply(200, _public(entry))

    def _create(self, incoming: Incoming, ad_account_id: str) -> Reply:
        body, digests, refusal = self._records("create", incoming)
        if refusal is not None:
            return refusal
        list_id = self.create_list(None, ad_account_id, body["name"], body.get("list_type", "EMAIL"))
        with self.lock:
            entry = self.lists[list_id]
            self._apply(entry, "ADD", digests)
            return Reply(200, _public(entry))

    def _apply(self, entry: dict[str, Any], operation: str, digests: list[str]) -> None:
        members: set[str] = entry["members"]
        if operation == "ADD":
            members.update(digests)
            entry["num_uploaded_user_records"] += len(digests)
        else:
            members.difference_update(digests)
            entry["num_removed_user_records"] += len(digests)  # counted even when not in the list, as Pinterest does
        entry["num_batches"] += 1
        entry["updated_time"] = int(time.time())
        self.records_applied += len(digests)


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in ("members", "list_type")} | {"exceptions": {}}
