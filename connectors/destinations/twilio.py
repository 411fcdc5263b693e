"""Twilio SMS: one form-encoded request per message, sent with bounded concurrency.

Environment (prefix THROUGHLINE_TWILIO by default):
  ACCOUNT_SID             account identifier (in the URL and the Basic auth user)
  AUTH_TOKEN              secret (Basic auth password)
  FROM                    sender number, or
  MESSAGING_SERVICE_SID   a Messaging Service (one of the two is required)
  STATUS_CALLBACK         optional URL; the record key is appended as
                          ``throughline_action_id`` so delivery receipts map back
  BASE_URL                default https://api.twilio.com
  RATE_PER_SECOND         client pacing, default 50
  MAX_CONCURRENCY         requests in flight, default 8
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

send_messages reads ``phone`` and ``text``. Twilio cannot deduplicate a resend,
so a request that got no answer is UNKNOWN and never resent; 429 (error 20429)
and 5xx answers mean "not queued" and are retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from connectors.base import (
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    Operation,
    OperationLimits,
    RateLimit,
    Record,
    RecordResult,
    WriteResult,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, map_bounded, probe, settle
from connectors.pii import InvalidIdentifier, e164
from connectors.registry import register

DEFAULT_RATE = RateLimit(50, 1)  # stays well under Twilio's 100 concurrent requests per account
DEFAULT_CONCURRENCY = 8


@register
class TwilioDestination(Destination):
    name = "twilio"
    capabilities = Capabilities(
        operations={
            Operation.SEND_MESSAGES: OperationLimits(max_records=500, rate=DEFAULT_RATE, idempotent=False),
        },
        max_concurrency=DEFAULT_CONCURRENCY,
    )

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        base_url: str = "https://api.twilio.com",
        http: HttpSettings | None = None,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ConfigurationError("twilio: set FROM or MESSAGING_SERVICE_SID")
        self.account_sid = account_sid
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        settings = http or HttpSettings()
        self.concurrency = settings.max_concurrency or self.capabilities.max_concurrency
        self.client = VendorHttpClient(
            "twilio", base_url, settings, auth=(account_sid, auth_token), pool_size=self.concurrency
        )
        self.limiter = self.client.limiter("messages", DEFAULT_RATE)
        # Threads kept for the destination's life: a message sync writes a batch of 100 at a
        # time, and starting 8 threads per batch showed in its profile.
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="twilio")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> TwilioDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.required("ACCOUNT_SID"),
            reader.secret("AUTH_TOKEN").reveal(),
            from_number=reader.text("FROM"),
            messaging_service_sid=reader.text("MESSAGING_SERVICE_SID"),
            status_callback=reader.text("STATUS_CALLBACK"),
            base_url=reader.text("BASE_URL", "https://api.twilio.com") or "",
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", f"/2010-04-01/Accounts/{self.account_sid}.json")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"twilio answered HTTP {response.status_code} to an account lookup")
        return CheckResult(True, "twilio credentials accepted")

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        return map_bounded(lambda record: self._send_one(record, result), records, self.concurrency, self.pool)

    def _send_one(self, record: Record, tally: WriteResult) -> RecordResult:
        try:
            to = e164(str(record.get("phone", "")))
        except InvalidIdentifier as invalid:
            return RecordResult.rejected(record.key, str(invalid))
        form = {"To": to, "Body": str(record.get("text", ""))}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = str(self.from_number)
        if self.status_callback:
            separator = "&" if "?" in self.status_callback else "?"
            form["StatusCallback"] = self.status_callback + separator + urlencode({"throughline_action_id": record.key})

        def send() -> list[RecordResult]:
            response = self.client.request(
                "POST", f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
                data=form, idempotent=False, limiter=self.limiter, tally=tally,
            )
            body = response.json() if response.content else {}
            if response.status_code == 201:
                return [RecordResult.accepted(record.key, body.get("sid"))]
            return [RecordResult.rejected(
                record.key, str(body.get("message") or f"HTTP {response.status_code}"),
                str(body.get("code") or response.status_code),
            )]

        return settle([record], send)[0]
