"""A local SMTP relay (aiosmtpd) that behaves like a submission server.

- STARTTLS offered when given a certificate, and then required before MAIL
  and AUTH (``require_starttls``, ``auth_require_tls``).
- AUTH PLAIN/LOGIN against one username and password when configured
  (535 5.7.8 otherwise); MAIL without AUTH is 530 when auth is configured.
- RCPT refusals per address (``refuse``: address -> (code, text), e.g. 550
  5.1.1 user unknown or 452 4.2.2 mailbox full); ``throttle_data`` answers the
  next DATA commands with 451 4.7.1 (rate limited, try again later);
  ``drop_after_data`` accepts the next messages then drops the connection
  before replying, the case where a client cannot know the outcome.
- Accepted messages are kept by Message-ID, with a count, so tests can assert
  nothing was lost or delivered twice.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import Counter
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Handler:
    def __init__(self, relay: SmtpServer) -> None:
        self.relay = relay

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.relay.username and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        refusal = self.relay.refuse.get(address.lower())
        if refusal:
            return f"{refusal[0]} {refusal[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        relay = self.relay
        with relay.lock:
            if relay.throttle_data > 0:
                relay.throttle_data -= 1
                relay.throttled += 1
                return "451 4.7.1 Rate limit exceeded, try again later"
            message = message_from_bytes(envelope.original_content or b"")
            message_id = str(message.get("Message-ID", ""))
            relay.messages[message_id] += 1
            relay.received.append(message)
            relay.recipients[message_id] = list(envelope.rcpt_tos)
            drop = relay.drop_after_data > 0
            if drop:
                relay.drop_after_data -= 1
        if drop:
            server.transport.abort()  # accepted, but the client never hears so
            return "250 OK"
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    vendor = "smtp"

    def __init__(self, *, username: str | None = None, password: str | None = None,
                 certfile: str | None = None, keyfile: str | None = None, port: int = 0, **_: Any) -> None:
        self.username = username
        self.password = password
        self.port = port or _free_port()
        self.tls: ssl.SSLContext | None = None
        if certfile:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(certfile, keyfile)
        self.lock = threading.Lock()
        self.refuse: dict[str, tuple[int, str]] = {}
        self.throttle_data = 0
        self.drop_after_data = 0
        self.throttled = 0
        self.messages: Counter[str] = Counter()  # Message-ID -> times accepted
        self.received: list[Message] = []
        self.recipients: dict[str, list[str]] = {}
        self.logins: Counter[str] = Counter()
        self._controller: Controller | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = login == self.username and auth_data.password.decode("utf-8", "replace") == self.password
        with self.lock:
            self.logins["ok" if ok else "refused"] += 1
        return AuthResult(success=ok, handled=False)

    @property
    def base_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> str:
        options: dict[str, Any] = {}
        if self.tls is not None:
            options.update(tls_context=self.tls, require_starttls=True, auth_require_tls=True)
        else:
            options.update(auth_require_tls=False)
        if self.username:
            options.update(authenticator=self._authenticate)
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self.base_url

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
