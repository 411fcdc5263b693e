"""Local Meta Graph API: customer-file Custom Audience membership.

Contract enforced (Meta's Marketing API docs; the body shape is the JSON
Schema in schemas/meta_custom_audience_users.json):
- The access token as ``access_token`` (body, form or query) or
  ``Authorization: Bearer|OAuth``; otherwise 400 ``OAuthException`` code 190.
- POST / DELETE /{version}/{audience_id}/users: ``payload`` with a schema and at
  most 10,000 rows (more is code 100); unknown audience is code 100 subcode 33.
  Rows must match the schema's width and carry lower-case SHA-256 hex for the
  hashed keys; other rows are counted in ``num_invalid_entries`` and sampled in
  ``invalid_entry_samples`` (value -> reason), the rest applied. 200 with
  ``{audience_id, session_id, num_received, num_invalid_entries, invalid_entry_samples}``.
- Upload sessions: a batch resent with the same (session_id, batch_seq) is
  answered again without being counted twice.
- Throttling is a 400 with code 80003 (custom audience business-use-case
  limit; ``throttle_code`` switches to 4, 17 or 613) and the
  X-Business-Use-Case-Usage header's ``estimated_time_to_regain_access`` (minutes).
- GET /{version}/me for a token check.
Members are kept per audience, keyed by the row's EMAIL hash (else PHONE, else
FN+LN), so tests can assert exactly who is in an audience.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

SCHEMA = "meta_custom_audience_users"
MAX_ROWS = 10_000
HASHED_KEYS = frozenset({"EMAIL", "PHONE", "FN", "LN", "FI", "CT", "ST", "ZIP", "COUNTRY", "GEN", "DOBY", "DOBM", "DOBD"})
SINGLE_KEYS = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_USERS = re.compile(r"^/(v\d+\.\d+)/([^/]+)/users$")
_ME = re.compile(r"^/(v\d+\.\d+)/me$")
BUSINESS_ID = "1234567890"
DEMO_AUDIENCE = "23849999999999999"  # exists from the start, for the demo and benchmarks


def _graph_error(code: int, message: str, subcode: int | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": uuid.uuid4().hex[:11]}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


class MetaServer(VendorServer):
    vendor = "meta"
    # Meta publishes no fixed number for the custom_audience business use case;
    # a per-minute window exercises the throttling path the same way.
    default_rate_limits = (WindowLimit(600, 60.0),)

    def __init__(self, access_token: str = "EAAtest-system-user-token-0123", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.audiences: dict[str, set[bytes]] = {}
        self.sessions: dict[tuple[str, int], dict[str, Any]] = {}
        self.reject_values: dict[str, str] = {}  # hash -> the reason Meta gives (rows it cannot use)
        self.rows_applied = 0
        self.batches_applied: Counter[tuple[str, int, int]] = Counter()  # (audience, session, seq) -> times
        self.throttle_code = 80003
        self.audiences[DEMO_AUDIENCE] = set()

    # ------------------------------------------------------------ test helpers

    def create_audience(self, audience_id: str | None = None) -> str:
        audience_id = audience_id or str(23850000000000000 + len(self.audiences))
        with self.lock:
            self.audiences.setdefault(audience_id, set())
        return audience_id

    def members(self, audience_id: str) -> set[str]:
        with self.lock:
            return {member.hex() for member in self.audiences.get(audience_id, set())}

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        issues(SCHEMA, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if _token(incoming) != self.access_token:
            return Reply(400, _graph_error(190, "Invalid OAuth access token - Cannot parse access token"))
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        minutes = math.ceil(retry_after / 60) if retry_after else 0
        usage = {BUSINESS_ID: [{"type": "custom_audience", "call_count": 100, "total_cputime": 20,
                                "total_time": 25, "estimated_time_to_regain_access": minutes}]}
        messages = {
            4: "Application request limit reached",
            17: "User request limit reached",
            613: "Calls to this api have exceeded the rate limit.",
        }
        message = messages.get(self.throttle_code, "There have been too many calls from this ad-account. "
                                                    "Wait a bit and try again.")
        body = _graph_error(self.throttle_code, message, is_transient=True)
        return Reply(400, body, {"X-Business-Use-Case-Usage": json.dumps(usage)})

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, _graph_error(2, "An unexpected error has occurred. Please retry your request later.",
                                          is_transient=True))

    def route(self, incoming: Incoming) -> Reply:
        if incoming.method == "GET" and _ME.match(incoming.path):
            return Reply(200, {"id": "100000000000001"})
        match = _USERS.match(incoming.path)
        if match and incoming.method in ("POST", "DELETE"):
            return self._users(match.group(2), incoming)
        return Reply(400, _graph_error(100, "Unsupported request - method type or path not supported", 33))

    def _users(self, audience_id: str, incoming: Incoming) -> Reply:
        body = _body(incoming)
        if isinstance(body, dict) and isinstance(body.get("payload"), dict):
            data = body["payload"].get("data")
            if isinstance(data, list) and len(data) > MAX_ROWS:
                return Reply(400, _graph_error(100, f"(#100) Too many users in one request: at most {MAX_ROWS}"))
        found = issues(SCHEMA, body)
        if found:
            issue = found[0]
            return Reply(400, _graph_error(100, f"(#100) Invalid parameter {issue.pointer}: {issue.message}"))
        with self.lock:
            if audience_id not in self.audiences:
                return Reply(400, _graph_error(
                    100, f"Unsupported post request. Object with ID '{audience_id}' does not exist, cannot be "
                         "loaded due to missing permissions, or does not support this operation", 33))
        payload = body["payload"]
        schema = payload["schema"]
        keys = [SINGLE_KEYS.get(schema, schema)] if isinstance(schema, str) else list(schema)
        invalid: dict[str, str] = {}
        valid_rows = []
        for row in payload["data"]:
            values = [row] if isinstance(row, str) else [str(v) for v in row]
            problem = self._row_problem(keys, values)
            if problem:
                invalid.setdefault(problem[0], problem[1])
                continue
            valid_rows.append(dict(zip(keys, values, strict=True)))
        session = body.get("session")
        session_id = session["session_id"] if session else int(uuid.uuid4().int >> 66)
        with self.lock:
            replay = False
            if session:
                state = self.sessions.setdefault((audience_id, session_id), {"seqs": set(), "last": False})
                replay = session["batch_seq"] in state["seqs"]
                state["seqs"].add(session["batch_seq"])
                state["last"] = state["last"] or session["last_batch_flag"]
                self.batches_applied[(audience_id, session_id, session["batch_seq"])] += 1
            if not replay:
                members = self.audiences[audience_id]
                for row in valid_rows:
                    member = _member_key(row)
                    if member is None:
                        continue
                    if incoming.method == "POST":
                        members.add(member)
                    else:
                        members.discard(member)
                self.rows_applied += len(valid_rows)
        return Reply(200, {
            "audience_id": audience_id,
            "session_id": str(session_id),
            "num_received": len(payload["data"]),
            "num_invalid_entries": len(payload["data"]) - len(valid_rows),
            "invalid_entry_samples": dict(list(invalid.items())[:100]),
        })

    def _row_problem(self, keys: list[str], values: list[str]) -> tuple[str, str] | None:
        if len(values) != len(keys):
            return json.dumps(values), "Row does not match the schema"
        if not any(values):
            return json.dumps(values), "Row has no value"
        for key, value in zip(keys, values, strict=True):
            if not value:
                continue
            if key in HASHED_KEYS and not _SHA256.match(value):
                return value, f"Invalid {key} hash: expected a lower-case SHA-256 hex digest"
            if value in self.reject_values:
                return value, self.reject_values[value]
        return None


def _body(incoming: Incoming) -> Any:
    content_type = (incoming.headers.get("Content-Type") or "").split(";")[0]
    if content_type == "application/x-www-form-urlencoded":
        form = {k: v[-1] for k, v in parse_qs(incoming.body.decode("utf-8")).items()}
        for name in ("payload", "session"):
            if name in form:
                try:
                    form[name] = json.loads(form[name])
                except ValueError:
                    pass
        return form
    try:
        return incoming.json()
    except ValueError:
        return None


def _token(incoming: Incoming) -> str | None:
    header = incoming.headers.get("Authorization") or ""
    for scheme in ("Bearer ", "OAuth "):
        if header.startswith(scheme):
            return header[len(scheme):]
    if incoming.param("access_token"):
        return incoming.param("access_token")
    body = _body(incoming) if incoming.body else None
    return body.get("access_token") if isinstance(body, dict) else None


def _member_key(row: dict[str, str]) -> bytes | None:
    for key in ("EMAIL", "PHONE"):
        if row.get(key):
            return bytes.fromhex(row[key])
    if row.get("FN") and row.get("LN"):
        return bytes.fromhex(row["FN"]) + bytes.fromhex(row["LN"])
    return None
