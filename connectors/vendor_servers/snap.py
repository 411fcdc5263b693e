"""Local Snap Marketing API: Snap Audience Match segment membership.

Contract enforced (Snap's Marketing API docs; the body shape is the JSON Schema in
schemas/snap_segment_users.json):
- ``Authorization: Bearer <access token>``; otherwise 401 with Snap's error shape
  ``{"request_status": "ERROR", "request_id", "debug_message", "display_message"}``.
- POST /login/oauth2/access_token (the accounts.snapchat.com refresh-token grant, form
  encoded): a new access token, or 400 ``invalid_grant``. ``expire_tokens()`` makes every
  issued token stale, as an expiry does.
- POST / DELETE /v1/segments/{segment_id}/users: one users entry with one schema and at
  most 100,000 identifiers (more is a 400), each a lower-case SHA-256 hex digest; an
  unknown segment is 404 ``E3003``. A batch holding a value from ``reject_values`` fails
  its sub-request with that reason. 200 with
  ``{"request_status": "SUCCESS", "users": [{"sub_request_status": "SUCCESS",
  "user": {"number_uploaded_users": N}}]}``.
- Rate: 10 requests/s per token; over it 429, without Retry-After (Snap documents none)
  unless ``send_retry_after`` is set.
- GET /v1/me for a token check.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

SCHEMA = "snap_segment_users"
MAX_IDENTIFIERS = 100_000
TOKEN_PATH = "/login/oauth2/access_token"
DEMO_SEGMENT = "5677923948298240"  # exists from the start, for the demo and benchmarks
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_USERS = re.compile(r"^/v1/segments/([^/]+)/users$")


def _error(status: int, debug: str, display: str, code: str | None = None) -> Reply:
    body: dict[str, Any] = {"request_status": "ERROR", "request_id": uuid.uuid4().hex, "debug_message": debug,
                            "display_message": display}
    if code:
        body["error_code"] = code
    return Reply(status, body)


class SnapServer(VendorServer):
    vendor = "snap"
    default_rate_limits = (WindowLimit(10, 1.0),)

    def __init__(self, access_token: str = "snap-test-access-token-0123", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.tokens = {access_token}
        # OAuth client credentials made up per server, as a test's throwaway account would be.
        self.client_id = "snap-client-id"
        self.client_secret, self.refresh_token = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        self.segments: dict[str, dict[str, set[str]]] = {DEMO_SEGMENT: {}}
        self.reject_values: dict[str, str] = {}  # hash -> the reason Snap gives for its sub-request
        self.tokens_issued = 0
        self.send_retry_after = False

    # ------------------------------------------------------------ test helpers

    def create_segment(self, segment_id: str | None = None) -> str:
        segment_id = segment_id or str(5677923948298241 + len(self.segments))
        with self.lock:
            self.segments.setdefault(segment_id, {})
        return segment_id

    def members(self, segment_id: str, schema: str = "EMAIL_SHA256") -> set[str]:
        with self.lock:
            return set(self.segments.get(segment_id, {}).get(schema, set()))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        issues(SCHEMA, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.path == TOKEN_PATH:
            return None
        header = incoming.headers.get("Authorization") or ""
        with self.lock:
            ok = header.startswith("Bearer ") and header[7:] in self.tokens
        if not ok:
            return _error(401, "Unauthorized: invalid or expired access token", "Please log in again.")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _error(429, "Too Many Requests", "You are sending requests too quickly. Please slow down.")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _error(status, "Internal server error", "We're sorry, something went wrong. Please try again.")

    def route(self, incoming: Incoming) -> Reply:
        if incoming.path == TOKEN_PATH and incoming.method == "POST":
            return self._token(incoming.form())
        if incoming.path == "/v1/me" and incoming.method == "GET":
            return Reply(200, {"request_status": "SUCCESS", "request_id": uuid.uuid4().hex,
                               "me": {"id": "1dcd753d-aca4-4f2d-8818-1edd38053a36", "display_name": "Throughline"}})
        match = _USERS.match(incoming.path)
        if match and incoming.method in ("POST", "DELETE"):
            return self._users(match.group(1), incoming)
        return _error(404, "Resource can not be found",
                      "We're sorry, but the requested resource is not available at this time", "E3003")

    def _token(self, form: dict[str, list[str]]) -> Reply:
        given = {k: v[-1] for k, v in form.items()}
        if given.get("grant_type") != "refresh_token" or (given.get("client_id"), given.get("client_secret"),
                                                           given.get("refresh_token")) != (
                self.client_id, self.client_secret, self.refresh_token):
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid refresh token or client"})
        token = "snap-" + secrets.token_hex(16)
        with self.lock:
            self.tokens.add(token)
            self.tokens_issued += 1
        return Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": 1800,
                           "refresh_token": self.refresh_token, "scope": "snapchat-marketing-api"})

    def _users(self, segment_id: str, incoming: Incoming) -> Reply:
        try:
            body = incoming.json()
        except ValueError:
            return _error(400, "Malformed JSON body", "The request is missing or has a bad parameter.", "E1001")
        users = body.get("users") if isinstance(body, dict) else None
        if isinstance(users, list) and users and isinstance(users[0], dict):
            data = users[0].get("data")
            if isinstance(data, list) and len(data) > MAX_IDENTIFIERS:
                return _error(400, f"Too many identifiers: at most {MAX_IDENTIFIERS} per request",
                              "The request is missing or has a bad parameter.", "E1001")
        found = issues(SCHEMA, body)
        if found:
            issue = found[0]
            return _error(400, f"Invalid parameter {issue.pointer}",  # never the values: they are hashes of people
                          "The request is missing or has a bad parameter.", "E1001")
        with self.lock:
            if segment_id not in self.segments:
                return _error(404, "Resource can not be found",
                              "We're sorry, but the requested resource is not available at this time", "E3003")
        schema = users[0]["schema"][0]
        values = [row[0] for row in users[0]["data"]]
        bad = next((v for v in values if not _SHA256.match(v)), None)
        refused = self.reject_values.get(bad or "") or next((self.reject_values[v] for v in values
                                                             if v in self.reject_values), None)
        if bad is not None or refused:
            reason = refused or f"Invalid {schema} value: expected a lower-case SHA-256 hex digest"
            return Reply(200, {"request_status": "SUCCESS", "request_id": uuid.uuid4().hex, "users": [
                {"sub_request_status": "ERROR", "sub_request_error_reason": reason}]})
        with self.lock:
            members = self.segments[segment_id].setdefault(schema, set())
            if incoming.method == "POST":
                members.update(values)
            else:
                members.difference_update(values)
        return Reply(200, {"request_status": "SUCCESS", "request_id": uuid.uuid4().hex, "users": [
            {"sub_request_status": "SUCCESS", "user": {"number_uploaded_users": len(values)}}]})
