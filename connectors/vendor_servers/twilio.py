"""Local Twilio Programmable Messaging (API 2010-04-01).

Contract enforced (Twilio's docs and twilio_api_v2010.json in specs/twilio):
- HTTP Basic auth ``AccountSid:AuthToken``, and the account in the path must be
  the authenticated one; otherwise 401 with error 20003.
- POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, one
  message per request, validated against ``CreateMessageRequest`` (form
  strings coerced to the schema's types first). 201 with the Message resource.
- Errors as ``{"code", "message", "more_info", "status"}``: 21211 invalid To,
  21602 no body, 21603 no From, 21610 unsubscribed recipient, 21617 body over
  1600 characters; Twilio's magic test numbers behave as documented
  (+15005550001 invalid, +15005550004 unsubscribed).
- Too many requests: 429 with error 20429 and no Retry-After.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import phonenumbers

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.openapi import form_schema_properties, schema_issues

SPEC = "twilio_api_v2010.json"
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
_ACCOUNT = re.compile(r"^/2010-04-01/Accounts/([^/]+)\.json$")
MAGIC_INVALID = "+15005550001"
MAGIC_UNSUBSCRIBED = "+15005550004"


def _twilio_error(status: int, code: int, message: str) -> Reply:
    return Reply(
        status,
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
    )


class TwilioServer(VendorServer):
    vendor = "twilio"
    # Twilio's documented default: 100 concurrent API requests per account; messages
    # beyond a sender's throughput are queued, not refused.
    default_rate_limits = (WindowLimit(100, 1.0),)

    def __init__(
        self, account_sid: str = "AC" + "0" * 31 + "1", auth_token: str = "test-auth-token-0123", **options: Any
    ) -> None:
        super().__init__(**options)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.unsubscribed: set[str] = {MAGIC_UNSUBSCRIBED}
        self.messages: list[dict[str, Any]] = []

    def messages_to(self, number: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m["to"] == number]

    def preload(self) -> None:
        schema_issues(
            self.vendor, SPEC, MESSAGES_PATH, "post", {"To": "+15005550006"}, "application/x-www-form-urlencoded"
        )

    def authenticate(self, incoming: Incoming) -> Reply | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if incoming.headers.get("Authorization") != f"Basic {expected}":
            return _twilio_error(401, 20003, "Authenticate")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _twilio_error(429, 20429, "Too Many Requests")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _twilio_error(status, 20500, "Internal Server Error")

    def route(self, incoming: Incoming) -> Reply:
        if (match := _ACCOUNT.match(incoming.path)) and incoming.method == "GET":
            if match.group(1) != self.account_sid:
                return _twilio_error(404, 20404, "The requested resource was not found")
            return Reply(200, {"sid": self.account_sid, "status": "active", "friendly_name": "Test account"})
        if (match := _MESSAGES.match(incoming.path)) and incoming.method == "POST":
            if match.group(1) != self.account_sid:
                return _twilio_error(401, 20003, "Authenticate")
            return self._create_message(incoming)
        return _twilio_error(404, 20404, "The requested resource was not found")

    def _create_message(self, incoming: Incoming) -> Reply:
        if (incoming.headers.get("Content-Type") or "").split(";")[0] != "application/x-www-form-urlencoded":
            return _twilio_error(400, 20001, "Request must be application/x-www-form-urlencoded")
        form = _coerce(incoming.form(), form_schema_properties(self.vendor, SPEC, MESSAGES_PATH, "post"))
        issues = schema_issues(self.vendor, SPEC, MESSAGES_PATH, "post", form, "application/x-www-form-urlencoded")
        if issues:
            return _twilio_error(400, 21100, f"Invalid parameter {issues[0].pointer.strip('/')}: {issues[0].message}")
        to = form["To"]
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            return _twilio_error(400, 21602, "Message body is required.")
        if len(form.get("Body", "")) > 1600:
            return _twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to == MAGIC_INVALID or not _valid_number(to):
            return _twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.unsubscribed:
            return _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        now = format_datetime(datetime.now(UTC), usegmt=True)
        sid = "SM" + uuid.uuid4().hex
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""),
            "status": "queued",
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),
        }
        with self.lock:
            self.messages.append(message)
        return Reply(201, message)


def _valid_number(number: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _coerce(form: dict[str, list[str]], properties: dict[str, Any]) -> dict[str, Any]:
    """Form values are strings; give the validator the types the schema declares."""
    coerced: dict[str, Any] = {}
    for name, values in form.items():
        kind = properties.get(name, {}).get("type")
        if kind == "array":
            coerced[name] = values
            continue
        value = values[-1]
        if kind == "integer" and value.lstrip("-").isdigit():
            coerced[name] = int(value)
        elif kind == "number":
            try:
                coerced[name] = float(value)
            except ValueError:
                coerced[name] = value
        elif kind == "boolean" and value.lower() in ("true", "false"):
            coerced[name] = value.lower() == "true"
        else:
            coerced[name] = value
    return coerced
