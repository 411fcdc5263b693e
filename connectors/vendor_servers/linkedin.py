"""Local LinkedIn Marketing API (versioned REST): DMP segment users.

Contract enforced (LinkedIn's docs; LinkedIn publishes no OpenAPI document, so the body
shape is the JSON Schema in schemas/linkedin_dmp_segment_users.json):
- ``Authorization: Bearer <token>``; otherwise 401 ``INVALID_ACCESS_TOKEN`` (serviceErrorCode 65600).
- ``LinkedIn-Version: YYYYMM``: missing is 400 ``VERSION_MISSING``; a month that is not (or
  no longer) active is 426 ``NONEXISTENT_VERSION``. ``X-Restli-Protocol-Version: 2.0.0``.
- POST /rest/dmpSegments/{id}/users with ``X-RestLi-Method: BATCH_CREATE``: ``elements`` of
  ``{action: ADD|REMOVE, userIds: [{idType, idValue}], firstName, lastName, ...}``, at most
  5,000 a request. 200 with one ``{"status": 201}`` per element, or ``{"status": 400,
  "message": ...}`` for an element LinkedIn cannot use (a malformed hash, no identifier);
  the rest are applied. Unknown segment: 404.
- GET /rest/adAccountUsers?q=authenticatedUser for a token check.
- Throttling: 500 requests a minute per member on /users (LinkedIn's published limit); a
  429 ``TOO_MANY_REQUESTS`` with no Retry-After (LinkedIn documents none) unless a fault gives one.
Members are kept per segment, keyed by the SHA256_EMAIL digest (else the GAID, else the
name pair), so tests can assert exactly who is in a segment.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

SCHEMA = "linkedin_dmp_segment_users"
MAX_ELEMENTS = 5_000
OLDEST_ACTIVE_VERSION = "202512"  # LinkedIn keeps a version about a year; older months answer 426
DEMO_SEGMENT = "18001234"  # exists from the start, for the demo and benchmarks
_USERS = re.compile(r"^/rest/dmpSegments/(\d+)/users$")
_VERSION = re.compile(r"^20\d\d(0[1-9]|1[0-2])$")
_HEX = {"SHA256_EMAIL": re.compile(r"^[0-9a-fA-F]{64}$"), "SHA512_EMAIL": re.compile(r"^[0-9a-fA-F]{128}$")}


def _error(status: int, code: str, message: str, service_code: int | None = None) -> Reply:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return Reply(status, body)


class LinkedInServer(VendorServer):
    vendor = "linkedin"
    default_rate_limits = (WindowLimit(500, 60.0),)

    def __init__(self, access_token: str = "AQVtest-linkedin-member-token-0123", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.segments: dict[str, set[str]] = {DEMO_SEGMENT: set()}
        self.reject_values: dict[str, str] = {}  # idValue -> the element message LinkedIn gives
        self.elements_applied = 0

    # ------------------------------------------------------------ test helpers

    def create_segment(self, segment_id: str | None = None) -> str:
        with self.lock:
            segment_id = segment_id or str(18_100_000 + len(self.segments))
            self.segments.setdefault(segment_id, set())
        return segment_id

    def members(self, segment_id: str) -> set[str]:
        with self.lock:
            return set(self.segments.get(segment_id, set()))

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        issues(SCHEMA, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _error(429, "TOO_MANY_REQUESTS",
                       "Resource level throttle 1 MINUTE limit for calls to this resource is reached.", 101)
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _error(status, "INTERNAL_SERVER_ERROR", "Internal Server Error")

    def route(self, incoming: Incoming) -> Reply:
        version = incoming.headers.get("LinkedIn-Version")
        if not version:
            return _error(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding "
                                                  "the LinkedIn-Version header.")
        if not _VERSION.match(version) or version < OLDEST_ACTIVE_VERSION:
            return _error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if incoming.method == "GET" and incoming.path == "/rest/adAccountUsers":
            return Reply(200, {"elements": [{"account": "urn:li:sponsoredAccount:512345678", "role": "CAMPAIGN_MANAGER",
                                             "user": "urn:li:person:qwerty123"}]})
        match = _USERS.match(incoming.path)
        if match and incoming.method == "POST":
            return self._users(match.group(1), incoming)
        return _error(404, "NOT_FOUND", f"No virtual resource found for {incoming.method} {incoming.path}")

    def _users(self, segment_id: str, incoming: Incoming) -> Reply:
        if incoming.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return _error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 is required")
        if incoming.headers.get("X-RestLi-Method") != "BATCH_CREATE":
            return _error(400, "ILLEGAL_ARGUMENT", "Adding several users needs X-RestLi-Method: BATCH_CREATE")
        try:
            body = incoming.json()
        except ValueError:
            return _error(400, "ILLEGAL_ARGUMENT", "Request body is not valid JSON")
        if isinstance(body, dict) and isinstance(body.get("elements"), list) and len(body["elements"]) > MAX_ELEMENTS:
            return _error(400, "ILLEGAL_ARGUMENT", f"Batch size {len(body['elements'])} exceeds the maximum of "
                                                   f"{MAX_ELEMENTS} elements")
        found = issues(SCHEMA, body)
        if found:
            return _error(400, "ILLEGAL_ARGUMENT", f"Invalid request body at {found[0].pointer}: {found[0].message}")
        with self.lock:
            if segment_id not in self.segments:
                return _error(404, "NOT_FOUND", f"DmpSegment {segment_id} does not exist")
            members = self.segments[segment_id]
            answers = []
            for element in body["elements"]:
                problem = self._element_problem(element)
                if problem:
                    answers.append({"status": 400, "message": problem})
                    continue
                key = _member_key(element)
                (members.add if element["action"] == "ADD" else members.discard)(key)
                self.elements_applied += 1
                answers.append({"status": 201})
        return Reply(200, {"elements": answers})

    def _element_problem(self, element: dict[str, Any]) -> str | None:
        ids = element.get("userIds") or []
        if not ids and not (element.get("firstName") and element.get("lastName")):
            return "At least one userId, or both firstName and lastName, must be provided"
        for user_id in ids:
            pattern = _HEX.get(user_id["idType"])
            if pattern and not pattern.match(user_id["idValue"]):
                return f"Invalid idValue for idType {user_id['idType']}: expected a hex digest"
            if user_id["idValue"] in self.reject_values:
                return self.reject_values[user_id["idValue"]]
        return None


def _member_key(element: dict[str, Any]) -> str:
    by_type = {user_id["idType"]: user_id["idValue"].lower() for user_id in element.get("userIds") or []}
    for id_type in ("SHA256_EMAIL", "SHA512_EMAIL", "GOOGLE_AID"):
        if id_type in by_type:
            return by_type[id_type]
    return f"{element['firstName'].lower()}|{element['lastName'].lower()}"
