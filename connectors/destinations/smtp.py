"""SMTP: email through any relay, with smtplib.

Environment (prefix THROUGHLINE_SMTP by default):
  HOST               relay host (required)
  PORT               default 587 (465 for SECURITY=ssl, 25 for none)
  SECURITY           starttls (default), ssl (implicit TLS) or none
  USERNAME           optional; with PASSWORD (secret) logs in after TLS
  PASSWORD
  CA_FILE            extra CA bundle to trust (a private relay's certificate)
  FROM_EMAIL         sender (a record's from_email overrides); FROM_NAME optional
  MESSAGE_ID_DOMAIN  right-hand side of Message-IDs, default throughline.invalid
  TIMEOUT            socket timeout in seconds, default 30
  MAX_ATTEMPTS       tries per message on temporary (4xx) answers, default 4
  RETRY_DELAY        base seconds between those tries, doubled each time, default 1

send_messages reads email, subject, text and/or html, from_email. One
connection is opened per write and reused for every message (re-opened if the
relay hangs up between messages). Each message goes out as MAIL, RCPT, DATA:
the same steps as ``sendmail``, taken one by one so the client knows how far a
message got. The relay's refusal of the recipient (``sendmail``'s refused
recipients) or of the data is per message: 5xx REJECTED with the relay's code
and text, 4xx retried after a pause and RETRYABLE if it persists. A connection
lost after the data was sent leaves the outcome UNKNOWN and the message is not
sent again. The Message-ID is derived from the record key, so a message that is
sent again anyway (by a later run) carries the same id and mailbox providers
that deduplicate on it show it once. Bad credentials (535) raise
``AuthenticationError``.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from connectors.base import (
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    Operation,
    OperationLimits,
    Record,
    RecordResult,
    WriteResult,
)
from connectors.config import EnvReader, default_prefix
from connectors.redaction import get_logger
from connectors.registry import register

log = get_logger("connectors.smtp")
SECURITY_MODES = ("starttls", "ssl", "none")
_DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class _Temporary(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


@register
class SmtpDestination(Destination):
    name = "smtp"
    capabilities = Capabilities(
        operations={Operation.SEND_MESSAGES: OperationLimits(max_records=100, idempotent=False)}
    )

    def __init__(
        self,
        host: str,
        *,
        port: int | None = None,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        message_id_domain: str = "throughline.invalid",
        timeout: float = 30.0,
        max_attempts: int = 4,
        retry_delay: float = 1.0,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ConfigurationError(f"smtp: SECURITY must be one of {', '.join(SECURITY_MODES)}")
        if bool(username) != bool(password):
            raise ConfigurationError("smtp: set both USERNAME and PASSWORD, or neither")
        self.host = host
        self.port = port or _DEFAULT_PORTS[security]
        self.security = security
        self._username = username
        self._password = password
        self.from_email = from_email
        self.from_name = from_name
        self.message_id_domain = message_id_domain
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self.tls = ssl.create_default_context(cafile=ca_file)
        self._connection: smtplib.SMTP | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> SmtpDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        password = reader.secret("PASSWORD").reveal() if reader.text("PASSWORD") else None
        port = reader.integer("PORT", 0)
        return cls(
            reader.required("HOST"),
            port=port or None,
            security=(reader.text("SECURITY", "starttls") or "starttls").lower(),
            username=reader.text("USERNAME"),
            password=password,
            ca_file=reader.text("CA_FILE"),
            from_email=reader.text("FROM_EMAIL"),
            from_name=reader.text("FROM_NAME"),
            message_id_domain=reader.text("MESSAGE_ID_DOMAIN", "throughline.invalid") or "throughline.invalid",
            timeout=reader.number("TIMEOUT", 30.0),
            max_attempts=reader.integer("MAX_ATTEMPTS", 4),
            retry_delay=reader.number("RETRY_DELAY", 1.0),
        )

    # ------------------------------------------------------------ connection

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if self.security == "starttls":
                connection.starttls(context=self.tls)
                connection.ehlo()
            if self._username and self._password:
                connection.login(self._username, self._password)
        except smtplib.SMTPAuthenticationError as refused:
            connection.close()
            log.error("smtp relay refused the credentials (%s); stopping", refused.smtp_code)
            raise AuthenticationError(
                f"smtp rejected the configured credentials ({refused.smtp_code}); check USERNAME and PASSWORD"
            ) from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _session(self) -> smtplib.SMTP:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()

    def check(self) -> CheckResult:
        try:
            connection = self._connect()
        except AuthenticationError as error:
            return CheckResult(False, str(error))
        except (smtplib.SMTPException, OSError) as error:
            return CheckResult(False, f"smtp relay unreachable ({type(error).__name__})")
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            pass
        return CheckResult(True, f"smtp relay accepted a {self.security} session")

    # ------------------------------------------------------------ sending

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        return [self._deliver(record, result) for record in records]

    def message_id(self, record: Record) -> str:
        digest = hashlib.sha256(record.key.encode("utf-8")).hexdigest()[:32]
        return f"<{digest}@{self.message_id_domain}>"

    def _deliver(self, record: Record, tally: WriteResult) -> RecordResult:
        to = str(record.get("email", "")).strip()
        if "@" not in to:
            return RecordResult.rejected(record.key, "record has no email address")
        sender = str(record.get("from_email") or self.from_email or "")
        if not sender:
            raise ConfigurationError("smtp: set THROUGHLINE_SMTP_FROM_EMAIL or a from_email field")
        message = self._compose(record, sender, to)
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                tally.retries += 1
                time.sleep(self.retry_delay * 2 ** (attempt - 2))
            try:
                return self._transact(record, sender, to, message, tally)
            except _Temporary as temporary:
                reason = f"{temporary.code} {temporary.text}"
                log.info("smtp: temporary %s (attempt %d/%d)", temporary.code, attempt, self.max_attempts)
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError, socket.timeout) as lost:
                # Nothing of this message had reached DATA (see _transact): safe to retry.
                self._drop()
                reason = f"connection lost before the message was sent ({type(lost).__name__})"
        return RecordResult.retryable(record.key, reason)

    def _transact(self, record: Record, sender: str, to: str, message: EmailMessage, tally: WriteResult) -> RecordResult:
        connection = self._session()
        tally.requests += 1
        code, text = connection.mail(sender)
        if code >= 400:
            return self._refused(record, connection, code, text)
        code, text = connection.rcpt(to)
        if code >= 400:  # what sendmail reports as a refused recipient
            return self._refused(record, connection, code, text)
        try:
            code, text = connection.data(message.as_bytes())
        except (smtplib.SMTPServerDisconnected, ConnectionError, socket.timeout) as lost:
            self._drop()
            return RecordResult.unknown(record.key, f"connection lost during DATA ({type(lost).__name__})")
        if code >= 400:
            return self._refused(record, connection, code, text)
        return RecordResult.accepted(record.key, str(message["Message-ID"]))

    def _refused(self, record: Record, connection: smtplib.SMTP, code: int, text: bytes | str) -> RecordResult:
        words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()
        if code == 421:
            self._drop()  # the relay is closing this session
        if 400 <= code < 500:
            raise _Temporary(code, words)
        return RecordResult.rejected(record.key, words, str(code))

    def _compose(self, record: Record, sender: str, to: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self.from_name, sender)) if self.from_name else sender
        message["To"] = to
        message["Subject"] = str(record.get("subject", ""))
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = self.message_id(record)
        message["X-Throughline-Action-Id"] = record.key
        text, html = record.get("text"), record.get("html")
        message.set_content(str(text) if text else "")
        if html:
            message.add_alternative(str(html), subtype="html")
        return message
