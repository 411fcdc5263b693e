"""`throughline collect`: Segment's HTTP Tracking API, so the SDKs people already use
(Segment's, RudderStack's, anything that speaks it) send events straight to Throughline.

    POST /v1/track /v1/identify /v1/page /v1/screen /v1/group /v1/alias   one call
    POST /v1/batch (and /v1/import, its alias)                            {"batch": [calls]}

As Segment does: HTTP Basic auth with the write key as the user name (or a `writeKey` field
in the body); gzip bodies; at most 32 KB a call and 500 KB a batch; 200 {"success": true}.
A call is answered only after it is on disk (orchestration/collect/spool.py). The collector
judges requests, not calls: a batch whose JSON is sound is kept whole, and the loader
rejects its bad calls into raw.rejects with their reasons, as it does for any landed file.

Each kept call gets Segment's server-side fields: `receivedAt` (this server's clock),
`originalTimestamp` (the client's `timestamp` as sent), and `timestamp` corrected for the
client's clock skew, receivedAt - (sentAt - originalTimestamp). A call without `messageId`
gets one derived from its content, so a client's retry of it is still a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

from orchestration.collect.spool import BacklogFull, Spool

log = logging.getLogger("throughline.collect")

CALL_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
RETRY_AFTER_SECONDS = 5
SINGLE_CALL_PATHS = {f"/v1/{kind}": kind for kind in ("track", "identify", "page", "screen", "group", "alias")}
BATCH_PATHS = {"/v1/batch", "/v1/import"}


@dataclass(frozen=True)
class CollectorSettings:
    """From the environment: the write keys are secrets and only ever read from there."""

    host: str
    port: int
    write_keys: tuple[str, ...]
    folder: Path
    max_backlog_bytes: int
    rotate_seconds: float

    @classmethod
    def from_env(cls) -> "CollectorSettings":
        from orchestration.syncs.landing import collected_dir

        env = os.environ
        keys = tuple(key.strip() for key in env.get("THROUGHLINE_COLLECT_WRITE_KEYS", "").split(",") if key.strip())
        if not keys:
            raise ValueError("THROUGHLINE_COLLECT_WRITE_KEYS is not set: give the collector at least one write key "
                             "(comma-separated), the one your SDKs are configured with")
        return cls(
            host=env.get("THROUGHLINE_COLLECT_HOST", "127.0.0.1"),
            port=int(env.get("THROUGHLINE_COLLECT_PORT", "8088")),
            write_keys=keys,
            folder=collected_dir(),
            max_backlog_bytes=int(float(env.get("THROUGHLINE_COLLECT_MAX_BACKLOG_MB", "1024")) * (1 << 20)),
            rotate_seconds=float(env.get("THROUGHLINE_COLLECT_ROTATE_SECONDS", "1")),
        )


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stamp(call: dict, received_at: datetime, batch_sent_at: object) -> None:
    """Segment's timestamps: an unparseable client timestamp is kept as it came, for the
    loader to reject with its reason."""
    sent_at = call.get("sentAt") or batch_sent_at
    original = call.get("originalTimestamp") or call.get("timestamp")
    call["receivedAt"] = _iso(received_at)
    if sent_at:
        call["sentAt"] = sent_at
    if original is None:
        call["timestamp"] = call["receivedAt"]
        return
    call["originalTimestamp"] = original
    original_at, sent = _instant(original), _instant(sent_at)
    if original_at is not None and sent is not None:
        call["timestamp"] = _iso(received_at - (sent - original_at))
    else:
        call["timestamp"] = original


def message_id_of(call: dict) -> str:
    """For a call sent without one: the same call sent again gets the same id."""
    content = {key: value for key, value in call.items() if key not in ("sentAt", "receivedAt", "writeKey")}
    return "collect-" + hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def decode_body(raw: bytes, encoding: str, limit: int) -> dict:
    if encoding == "gzip":
        try:
            inflater = zlib.decompressobj(wbits=31)
            raw = inflater.decompress(raw, limit + 1)  # never inflate past the limit
        except zlib.error as error:
            raise Refused(400, "invalid_gzip", f"the body is not valid gzip: {error}") from None
        if len(raw) > limit or inflater.unconsumed_tail:
            raise Refused(413, "payload_too_large", f"the body is over {limit // 1024} KB once inflated")
    elif encoding not in ("", "identity"):
        raise Refused(400, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported (gzip is)")
    if len(raw) > limit:
        raise Refused(413, "payload_too_large", f"the body is over {limit // 1024} KB")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise Refused(400, "invalid_encoding", f"the body is not UTF-8 (byte {bad.start})") from None
        raise Refused(400, "invalid_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise Refused(400, "invalid_json", f"the body must be a JSON object, not {type(body).__name__}")
    return body


def calls_of(path: str, body: dict) -> list:
    if path in BATCH_PATHS:
        calls = body.get("batch")
        if not isinstance(calls, list):
            raise Refused(400, "invalid_batch", "a batch body needs a `batch` array of calls")
        return calls
    call = dict(body)
    call["type"] = SINGLE_CALL_PATHS[path]  # the endpoint says what the call is
    return [call]


def lines_of(path: str, body: dict, received_at: datetime) -> bytes:
    """The calls of one request as JSON Lines, enriched; Refused if any is over the limit."""
    batch_context = body.get("context") if path in BATCH_PATHS and isinstance(body.get("context"), dict) else None
    lines = []
    for position, call in enumerate(calls_of(path, body)):
        if isinstance(call, dict):
            call.pop("writeKey", None)  # a secret: never stored
            if len(orjson.dumps(call)) > CALL_LIMIT:
                raise Refused(413, "payload_too_large", f"call {position} is over {CALL_LIMIT // 1024} KB")
            if batch_context:  # a batch's context applies to every call, the call's own keys first
                call["context"] = {**batch_context, **call["context"]} if isinstance(call.get("context"), dict) else dict(batch_context)
            if not call.get("messageId"):
                call["messageId"] = message_id_of(call)
            stamp(call, received_at, body.get("sentAt"))
        lines.append(orjson.dumps(call))  # not an object: kept, and the loader rejects it with its reason
    return b"\n".join(lines) + b"\n" if lines else b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDKs reuse their connection
    disable_nagle_algorithm = True  # the answer goes out at once, not after the client's delayed ACK (40 ms)
    server: "_HTTPServer"

    def log_message(self, format: str, *args: object) -> None:  # bodies hold PII: log no request, only refusals
        pass

    def _answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:  # browsers' CORS preflight (analytics.js posts cross-origin)
        self._answer(200, {}, {"Access-Control-Allow-Methods": "POST, OPTIONS",
                               "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding"})

    def do_POST(self) -> None:
        try:
            self._collect()
        except Refused as refused:
            log.info("refused %s: %s %s", self.path, refused.status, refused.code)
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if refused.status == 503 else None
            self._answer(refused.status, {"success": False, "code": refused.code, "message": refused.message}, headers)

    def _collect(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in SINGLE_CALL_PATHS and path not in BATCH_PATHS:
            self._discard_body()
            raise Refused(404, "not_found", f"no endpoint {path}; the Tracking API has /v1/track, identify, page, screen, group, alias, batch, import")
        limit = BATCH_LIMIT if path in BATCH_PATHS else CALL_LIMIT
        raw = self._read_body(limit)
        received_at = datetime.now(UTC)
        body = decode_body(raw, self.headers.get("Content-Encoding", "").strip().lower(), limit)
        self.server.authorize(self.headers.get("Authorization"), body.pop("writeKey", None))
        data = lines_of(path, body, received_at)
        try:
            self.server.spool.append(data)
        except BacklogFull:
            raise Refused(503, "backlog_full", "the collector holds as many calls as it may until the warehouse takes them; retry later") from None
        self._answer(200, {"success": True})

    def _read_body(self, limit: int) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise Refused(411, "length_required", "send the body with a Content-Length")
        if int(length) > limit:
            self.close_connection = True  # not read: the connection can't be reused
            raise Refused(413, "payload_too_large", f"the body is over {limit // 1024} KB")
        return self.rfile.read(int(length))

    def _discard_body(self) -> None:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= BATCH_LIMIT:
            self.rfile.read(int(length))
        else:
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, settings: CollectorSettings, spool: Spool):
        self.spool = spool
        self._keys = [key.encode() for key in settings.write_keys]
        super().__init__((settings.host, settings.port), _Handler)

    def authorize(self, header: str | None, body_key: object) -> None:
        key = None
        if header and header.lower().startswith("basic "):
            try:
                key = base64.b64decode(header[6:].strip(), validate=True).split(b":", 1)[0]
            except ValueError:
                key = None
        elif isinstance(body_key, str):
            key = body_key.encode()
        if not key or not any(hmac.compare_digest(key, known) for known in self._keys):
            raise Refused(401, "unauthorized", "missing or unknown write key (HTTP Basic user name, or `writeKey` in the body)")


class Collector:
    """The HTTP server and its spool; `start()` serves in a thread, `serve_forever()` in this one."""

    def __init__(self, settings: CollectorSettings):
        self.settings = settings
        self.spool = Spool(settings.folder, max_backlog_bytes=settings.max_backlog_bytes, rotate_seconds=settings.rotate_seconds)
        self.http = _HTTPServer(settings, self.spool)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Collector":
        self._thread = threading.Thread(target=self.http.serve_forever, name="collector", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.http.serve_forever()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.spool.close()
