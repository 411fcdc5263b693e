"""Local TikTok API for Business: customer-file custom audiences.

Contract enforced (request bodies validated against schemas/tiktok_*.json, written from
TikTok's API reference and the request definitions of its published SDK):
- Every answer is HTTP 200 with ``{"code", "message", "request_id", "data"}``, code 0 for
  success. A missing ``Access-Token`` header is 40104, a wrong one 40105; another
  advertiser is 40001. Too many requests is 40100 (no Retry-After). ``envelope_errors``
  answers the next requests with the given codes (50002 system timeout, ...).
- POST /open_api/v1.3/dmp/custom_audience/file/upload/ (multipart): calculate_type from the
  DmpCalculateType enum, a .csv/.txt file of one lower-case SHA-256 digest per line (a first
  line naming the type is a header), at most 50 MB (40907), not empty (40906), and
  file_signature equal to its MD5 (40900). Answers ``data.file_path``.
- POST /open_api/v1.3/dmp/custom_audience/update/: action APPEND, REMOVE or REPLACE over
  file_paths of the audience's own calculate_type (40909); an unknown file is 40905, an
  unknown audience 40002. An operation that leaves the audience under 1,000 members fails
  (40002), as TikTok documents; ``create_audience`` seeds 1,000 members for that reason.
- GET /open_api/v1.3/dmp/custom_audience/list/ for a token check.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues, validator

API = "/open_api/v1.3"
UPLOAD_SCHEMA, UPDATE_SCHEMA = "tiktok_custom_audience_file_upload", "tiktok_custom_audience_update"
MAX_FILE_BYTES = 50 * 1024 * 1024
MIN_AUDIENCE = 1_000
ADVERTISER_ID = "7012345678901234567"
DEMO_AUDIENCE = "1790000000000001"  # exists from the start, for the demo and benchmarks
_SHA256 = re.compile(rb"[0-9a-f]{64}")


def _enum(schema: str, field: str) -> frozenset[str]:
    return frozenset(validator(schema).schema["properties"][field]["enum"])


def _answer(code: int = 0, message: str = "OK", data: Any = None) -> Reply:
    return Reply(200, {"code": code, "message": message, "request_id": uuid.uuid4().hex[:32], "data": data or {}})


class TikTokServer(VendorServer):
    vendor = "tiktok"
    # TikTok publishes limits per endpoint and developer tier, not one number: a stand-in window.
    default_rate_limits = (WindowLimit(10, 1.0),)

    def __init__(self, access_token: str = "tiktok-test-access-token-0123", **options: Any) -> None:
        super().__init__(**options)
        self.access_token, self.advertiser_id = access_token, ADVERTISER_ID
        self.audiences: dict[str, dict[str, Any]] = {}
        self.files: dict[str, tuple[str, frozenset[bytes]]] = {}
        self.updates: Counter[str] = Counter()  # file_path -> times applied
        self.envelope_errors: list[int] = []
        self.send_retry_after = False
        self.calculate_types = _enum(UPLOAD_SCHEMA, "calculate_type")
        self.actions = _enum(UPDATE_SCHEMA, "action")
        self.create_audience(DEMO_AUDIENCE)

    # ------------------------------------------------------------ test helpers

    def create_audience(self, audience_id: str | None = None, calculate_type: str = "EMAIL_SHA256") -> str:
        audience_id = audience_id or str(1790000000000002 + len(self.audiences))
        seed = frozenset(hashlib.sha256(f"seed-{audience_id}-{i}".encode()).hexdigest().encode()
                         for i in range(MIN_AUDIENCE))
        with self.lock:
            self.audiences[audience_id] = {"calculate_type": calculate_type, "members": set(seed), "seed": seed}
        return audience_id

    def members(self, audience_id: str) -> set[str]:
        with self.lock:
            audience = self.audiences[audience_id]
            return {m.decode() for m in audience["members"] - audience["seed"]}

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        issues(UPLOAD_SCHEMA, {})
        issues(UPDATE_SCHEMA, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        token = incoming.headers.get("Access-Token")
        if not token:
            return _answer(40104, "Access token is null, please pass in the Access-Token header.")
        if token != self.access_token:
            return _answer(40105, "Access token is incorrect or has been revoked.")
        with self.lock:
            code = self.envelope_errors.pop(0) if self.envelope_errors else None
        if code is not None:
            return _answer(code, "System error, please try again later.")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _answer(40100, "Too many requests. Please retry in some time.")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"code": 50000, "message": "System error", "request_id": uuid.uuid4().hex[:32]})

    def route(self, incoming: Incoming) -> Reply:
        path = incoming.path
        if path == f"{API}/dmp/custom_audience/list/" and incoming.method == "GET":
            if incoming.param("advertiser_id") != self.advertiser_id:
                return _answer(40001, "No permission to operate advertiser.")
            return _answer(data={"list": [{"custom_audience_id": a} for a in self.audiences],
                                 "page_info": {"page": 1, "page_size": 1, "total_number": len(self.audiences)}})
        if path == f"{API}/dmp/custom_audience/file/upload/" and incoming.method == "POST":
            return self._upload(incoming)
        if path == f"{API}/dmp/custom_audience/update/" and incoming.method == "POST":
            return self._update(incoming)
        return Reply(404, {"code": 40400, "message": "Route not found", "request_id": uuid.uuid4().hex[:32]})

    def _upload(self, incoming: Incoming) -> Reply:
        fields, filename = _multipart(incoming)
        found = issues(UPLOAD_SCHEMA, {k: v.decode("latin-1") if k != "file" else "" for k, v in fields.items()})
        if found:
            return _answer(40002, f"{found[0].pointer.strip('/') or 'body'}: {found[0].message}")
        if fields["advertiser_id"].decode() != self.advertiser_id:
            return _answer(40001, "No permission to operate advertiser.")
        calculate_type = fields["calculate_type"].decode()
        if calculate_type not in self.calculate_types:
            return _answer(40002, f"calculate_type: invalid enum value {calculate_type!r}")
        content = fields["file"]
        if not (filename or "").endswith((".csv", ".txt")):
            return _answer(40908, "File type error: only .csv and .txt files are supported.")
        if not content.strip():
            return _answer(40906, "The file is empty.")
        if len(content) > MAX_FILE_BYTES:
            return _answer(40907, "The file is too large.")
        if hashlib.md5(content).hexdigest() != fields["file_signature"].decode():  # noqa: S324
            return _answer(40900, "file_signature does not match the MD5 of the file.")
        lines = content.split(b"\n")
        if lines and lines[0].strip().upper() == calculate_type.encode():
            lines = lines[1:]  # a header row
        digests = frozenset(line.strip() for line in lines if _SHA256.fullmatch(line.strip()))
        file_path = f"ad-site-i18n-sg/{uuid.uuid4().hex}"
        with self.lock:
            self.files[file_path] = (calculate_type, digests)
        return _answer(data={"file_path": file_path})

    def _update(self, incoming: Incoming) -> Reply:
        try:
            body = incoming.json()
        except ValueError:
            return _answer(40002, "Invalid JSON body.")
        found = issues(UPDATE_SCHEMA, body)
        if found:
            return _answer(40002, f"{found[0].pointer.strip('/') or 'body'}: {found[0].message}")
        if body["advertiser_id"] != self.advertiser_id:
            return _answer(40001, "No permission to operate advertiser.")
        action = body.get("action", "REPLACE")
        if action not in self.actions:
            return _answer(40002, f"action: invalid enum value {action!r}")
        with self.lock:
            audience = self.audiences.get(body["custom_audience_id"])
            if audience is None:
                return _answer(40002, f"custom_audience_id: audience {body['custom_audience_id']} does not exist.")
            files = []
            for file_path in body.get("file_paths") or []:
                if file_path not in self.files:
                    return _answer(40905, f"File does not exist: {file_path}")
                calculate_type, digests = self.files[file_path]
                if calculate_type != audience["calculate_type"]:
                    return _answer(40909, "The calculate_type of the file does not match the audience.")
                files.append(digests)
            members = set(audience["members"]) if action != "REPLACE" else set()
            for digests in files:
                members = members - digests if action == "REMOVE" else members | digests
            if len(members) < MIN_AUDIENCE:
                return _answer(40002, "The audience size would be less than 1,000 after the operation.")
            audience["members"] = members
            for file_path in body.get("file_paths") or []:
                self.updates[file_path] += 1
        return _answer(data={"custom_audience_id": body["custom_audience_id"]})


def _multipart(incoming: Incoming) -> tuple[dict[str, bytes], str | None]:
    head = f"Content-Type: {incoming.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + incoming.body)
    fields: dict[str, bytes] = {}
    filename = None
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
            if name == "file":
                filename = part.get_filename()
    return fields, filename
