"""A small local HTTP server that a vendor module fills with the vendor's contract.

The base handles the plumbing every vendor shares: a ``ThreadingHTTPServer`` on
127.0.0.1 (ephemeral port) in a background thread, request parsing, a sliding
window rate limiter, and switchable faults. A vendor subclass implements
``authenticate``, ``route`` and the vendor's own error and throttle replies, and
keeps whatever state tests need to prove nothing was lost or sent twice.

    with SendGridServer() as server:
        base_url = server.base_url
        server.inject(Fault.STATUS, count=2, status=503)
"""

from __future__ import annotations

import enum
import json
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit


@dataclass
class Incoming:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    _parsed: Any = field(default=None, init=False, repr=False)

    def json(self) -> Any:
        """The body as JSON, parsed once (authentication and routing both read it)."""
        if self._parsed is None and self.body:
            self._parsed = json.loads(self.body.decode("utf-8"))
        return self._parsed

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int
    body: Any = None  # dict/list -> JSON, bytes -> as is, None -> empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode("utf-8")


class Fault(enum.Enum):
    STATUS = "status"  # answer with a server error (``status``), request not processed
    THROTTLE = "throttle"  # the vendor's own 429 (``retry_after`` None: without Retry-After)
    TIMEOUT = "timeout"  # hold the request ``delay`` seconds, then drop the connection
    RESET = "reset"  # reset the TCP connection without answering
    SLOW = "slow"  # wait ``delay`` seconds, then answer normally


@dataclass
class FaultSpec:
    kind: Fault
    remaining: int
    status: int = 500
    delay: float = 1.0
    retry_after: float | None = None
    # TIMEOUT/RESET only: act on the request first, then lose the answer; the
    # case where a client that resends blindly delivers twice.
    process_first: bool = False
    path_prefix: str = ""


@dataclass(frozen=True)
class WindowLimit:
    """At most ``limit`` requests in any sliding window of ``seconds``."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int  # 0: the connection was dropped on purpose
    at: float  # monotonic time the request arrived


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or that we reset on purpose end connections
        # abruptly; that is the point of those faults, not an error to print.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _QuietServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle holds the
        # body until the client's delayed ACK (~40 ms), which would make every
        # local vendor look slow and distort rate measurements.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the vendor server keeps its own request log

    def _dispatch(self) -> None:
        vendor: VendorServer = self.server.vendor  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        incoming = Incoming(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True), self.headers, body)
        reply = vendor._handle(incoming, self)
        if reply is None:  # the connection was dropped on purpose
            self.close_connection = True
            return
        payload = reply.encode()
        try:
            self.send_response(reply.status)
            if payload or reply.status not in (204, 304):
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def drop(self, reset: bool) -> None:
        if reset:
            # SO_LINGER 0 makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            self.connection.close()
        except OSError:
            pass


class VendorServer:
    """Base for one vendor's local server. Subclasses set ``vendor`` and
    ``default_rate_limits`` and implement ``authenticate`` and ``route``."""

    vendor: ClassVar[str]
    default_rate_limits: ClassVar[Sequence[WindowLimit]] = ()

    def __init__(self, *, rate_limits: Sequence[WindowLimit] | None = None, port: int = 0) -> None:
        self.rate_limits = tuple(self.default_rate_limits if rate_limits is None else rate_limits)
        self.port = port
        self.lock = threading.RLock()
        self.request_log: list[LoggedRequest] = []
        self.throttled = 0
        self._faults: list[FaultSpec] = []
        self._windows: dict[WindowLimit, deque[float]] = {limit: deque() for limit in self.rate_limits}
        self._httpd: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        # Omit Retry-After on rate-limit 429s (to test clients that must back off blind).
        self.send_retry_after = True

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self.preload()
        self._httpd = _QuietServer(("127.0.0.1", self.port), _Handler)
        self._httpd.vendor = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.vendor}-server", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> VendorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- faults

    def inject(self, kind: Fault, count: int = 1, **options: Any) -> None:
        with self.lock:
            self._faults.append(FaultSpec(kind, count, **options))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, incoming: Incoming) -> FaultSpec | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining > 0 and incoming.path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    return fault
        return None

    # ---------------------------------------------------------------- rate limits

    def _over_limit(self) -> float | None:
        """Seconds until a request would fit, or None if it fits now (and is counted)."""
        now = time.monotonic()
        with self.lock:
            wait = 0.0
            for limit, stamps in self._windows.items():
                while stamps and stamps[0] <= now - limit.seconds:
                    stamps.popleft()
                if len(stamps) >= limit.limit:
                    wait = max(wait, stamps[0] + limit.seconds - now)
            if wait > 0:
                return wait
            for stamps in self._windows.values():
                stamps.append(now)
        return None

    # ---------------------------------------------------------------- request flow

    def _handle(self, incoming: Incoming, handler: _Handler) -> Reply | None:
        received = time.monotonic()
        fault = self._take_fault(incoming)
        reply = self._apply_fault(fault, incoming, handler) if fault else self._serve(incoming)
        self._log(incoming, reply.status if reply is not None else 0, received)
        return reply

    def _apply_fault(self, fault: FaultSpec, incoming: Incoming, handler: _Handler) -> Reply | None:
        if fault.kind is Fault.STATUS:
            return self.server_error_reply(fault.status)
        if fault.kind is Fault.THROTTLE:
            with self.lock:
                self.throttled += 1
            return self.throttle_reply(fault.retry_after)
        if fault.kind is Fault.SLOW:
            time.sleep(fault.delay)
            return self._serve(incoming)
        if fault.process_first:
            self._serve(incoming)
        if fault.kind is Fault.TIMEOUT:
            time.sleep(fault.delay)
        handler.drop(reset=fault.kind is Fault.RESET)
        return None

    def _serve(self, incoming: Incoming) -> Reply:
        refusal = self.authenticate(incoming)
        if refusal is not None:
            return refusal
        wait = self._over_limit()
        if wait is not None:
            with self.lock:
                self.throttled += 1
            return self.throttle_reply(math.ceil(wait) if self.send_retry_after else None)
        return self.route(incoming)

    def _log(self, incoming: Incoming, status: int, received: float) -> None:
        with self.lock:
            self.request_log.append(LoggedRequest(incoming.method, incoming.path, status, received))

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [
                r
                for r in self.request_log
                if r.path.startswith(path_prefix) and (method is None or r.method == method)
            ]

    # ---------------------------------------------------------------- vendor hooks

    def preload(self) -> None:
        """Parse the vendor's spec before serving, so the first requests are not
        slower than the rest (that would distort rate measurements)."""

    def authenticate(self, incoming: Incoming) -> Reply | None:
        """Return the vendor's refusal, or None when the credentials are good."""
        raise NotImplementedError

    def route(self, incoming: Incoming) -> Reply:
        raise NotImplementedError

    def throttle_reply(self, retry_after: float | None) -> Reply:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        return Reply(429, {"error": "too many requests"}, headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"error": "internal error"})

    def not_found(self) -> Reply:
        return Reply(404, {"error": "not found"})
