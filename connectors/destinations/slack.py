"""Slack: internal alerts (a sales-ready lead, a failed sync) by incoming webhook or chat.postMessage.

Environment (prefix THROUGHLINE_SLACK by default), one of:
  WEBHOOK_URL   secret incoming webhook URL (the URL itself is the credential: never logged)
  BOT_TOKEN     secret bot token (``xoxb-...``), sent as ``Authorization: Bearer``, with
  CHANNEL       the default channel id or name; a sync's target overrides it
  API_URL       default https://slack.com/api
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations send_messages and track_events (an events sync: each new row an alert): one message per record, from ``blocks`` (a list, or JSON text) with
``text`` as the notification fallback, else ``text``, with ``subject`` as a bold first line.
Slack's errors, decided as:
  credentials  webhook 403 invalid_token / action_prohibited, 404 no_service / no_team, 410 team_disabled;
               bot invalid_auth, not_authed, token_revoked, account_inactive, missing_scope, ...:
               AuthenticationError, the sync stops.
  the channel  channel_not_found, not_in_channel, is_archived / channel_is_archived: that record and the
               rest of the batch are REJECTED (unsent) with Slack's code; retrying cannot help.
  retryable    429 ``ratelimited`` (Retry-After honoured) and 5xx by the HTTP layer; bot internal_error /
               service_unavailable: RETRYABLE; fatal_error (may have posted): UNKNOWN.
  the record   anything else (invalid_payload, no_text, invalid_blocks, msg_too_long, ...): REJECTED.
Messages are not idempotent: a lost answer is UNKNOWN, never resent. About one message per second
per channel (Slack's chat.postMessage and webhook guidance): one limiter per channel.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from connectors.base import (AuthenticationError, Capabilities, CheckResult, ConfigurationError, Destination,
                             Operation, OperationLimits, RateLimit, Record, RecordResult, WriteResult)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, OutcomeUnknown, TransientFailure, VendorHttpClient, json_object, probe
from connectors.redaction import register_secret
from connectors.registry import register

CHANNEL_RATE = RateLimit(1, 1)
API_URL = "https://slack.com/api"
AUTH_ERRORS = frozenset({"invalid_token", "action_prohibited", "no_service", "no_team", "team_disabled",
                         "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                         "missing_scope", "no_permission", "not_allowed_token_type", "ekm_access_denied",
                         "team_access_not_granted", "org_login_required"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
                            "restricted_action", "posting_to_general_channel_denied"})
RETRYABLE_ERRORS = frozenset({"internal_error", "service_unavailable", "ratelimited", "rate_limited"})


@register
class SlackDestination(Destination):
    name = "slack"
    capabilities = Capabilities(
        # An event (a lead became sales-ready) is posted exactly like a message.
        operations={operation: OperationLimits(max_records=20, rate=CHANNEL_RATE, idempotent=False)
                    for operation in (Operation.SEND_MESSAGES, Operation.TRACK_EVENTS)},
    )

    def __init__(self, *, webhook_url: str | None = None, bot_token: str | None = None, channel: str | None = None,
                 api_url: str = API_URL, http: HttpSettings | None = None) -> None:
        if bool(webhook_url) == bool(bot_token):
            raise ConfigurationError("slack: set exactly one of WEBHOOK_URL and BOT_TOKEN")
        self.channel = channel
        if webhook_url:
            # urllib3 logs request lines (the path alone) at DEBUG: the path and its last part are secret too.
            path = urlsplit(webhook_url).path
            for part in (webhook_url, path, path.rstrip("/").rpartition("/")[2]):
                register_secret(part)
            self.client = VendorHttpClient("slack", webhook_url, http or HttpSettings())
        else:
            self.client = VendorHttpClient("slack", api_url, http or HttpSettings(),
                                           headers={"Authorization": f"Bearer {bot_token}"})
        self.webhook = bool(webhook_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> SlackDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        hook = reader.secret("WEBHOOK_URL").reveal() if reader.text("WEBHOOK_URL") else None
        token = reader.secret("BOT_TOKEN").reveal() if reader.text("BOT_TOKEN") else None
        return cls(webhook_url=hook, bot_token=token, channel=reader.text("CHANNEL"),
                   api_url=reader.text("API_URL", API_URL) or API_URL, http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        if self.webhook:  # a webhook has no read-only call; posting would send a message
            return CheckResult(True, "slack webhook configured (not probed: any call posts a message)")
        response, problem = probe(self.client, "POST", "/auth.test")
        if response is None:
            return CheckResult(False, problem)
        body = json_object(response)
        if not body.get("ok"):
            return CheckResult(False, f"slack auth.test answered {body.get('error') or response.status_code}")
        return CheckResult(True, "slack bot token accepted")

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        channel = target or self.channel
        if not self.webhook and not channel:
            raise ConfigurationError("slack: chat.postMessage needs CHANNEL or a sync target")
        limiter = self.client.limiter(f"channel:{channel or 'webhook'}", CHANNEL_RATE)
        answers: list[RecordResult] = []
        for index, record in enumerate(records):
            try:
                answer = self._post(record, channel, limiter, result)
            except AuthenticationError:
                result.results = list(answers)  # messages already posted reach the ledger as delivered
                raise
            answers.append(answer)
            if answer.vendor_code in CHANNEL_ERRORS:
                answers += [RecordResult.rejected(r.key, f"not sent: {answer.reason}", answer.vendor_code)
                            for r in records[index + 1:]]
                break
        return answers

    def _post(self, record: Record, channel: str | None, limiter: Any, tally: WriteResult) -> RecordResult:
        message = _message(record)
        if message is None:
            return RecordResult.rejected(record.key, "record has no text, subject or blocks")
        if channel and not self.webhook:
            message["channel"] = channel
        try:
            response = self.client.request("POST", "" if self.webhook else "/chat.postMessage", json=message,
                                           limiter=limiter, idempotent=False, tally=tally)
        except TransientFailure as failure:
            return RecordResult.retryable(record.key, failure.reason)
        except OutcomeUnknown as unknown:
            return RecordResult.unknown(record.key, unknown.reason)
        except AuthenticationError:
            raise AuthenticationError("slack refused the configured webhook URL or bot token; check it is current "
                                      "and has chat:write") from None
        error, ts = _error(response, self.webhook)
        if error is None:
            return RecordResult.accepted(record.key, ts)
        if error in AUTH_ERRORS:
            raise AuthenticationError(f"slack refused the configured {'webhook URL' if self.webhook else 'bot token'}"
                                      f" ({error}); check it is current and has chat:write")
        if error in RETRYABLE_ERRORS:
            return RecordResult.retryable(record.key, f"slack: {error}", error)
        if error == "fatal_error":
            return RecordResult.unknown(record.key, "slack: fatal_error (the message may have been posted)")
        return RecordResult.rejected(record.key, f"slack: {error}", error)


def _error(response: requests.Response, webhook: bool) -> tuple[str | None, str | None]:
    """(Slack's error code or None, the message ts). Webhooks answer plain text; the Web API JSON."""
    if webhook:
        text = response.text.strip()
        if response.status_code == 200 and text == "ok":
            return None, None
        return text or f"http_{response.status_code}", None
    body = json_object(response)
    if body.get("ok"):
        return None, str(body.get("ts") or "") or None
    return str(body.get("error") or f"http_{response.status_code}"), None


def _message(record: Record) -> dict[str, Any] | None:
    text, subject, blocks = record.get("text"), record.get("subject"), record.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            blocks = None
    rendered = "\n".join(part for part in (f"*{subject}*" if subject else "", str(text or "")) if part)
    if not rendered and not blocks:
        return None
    message: dict[str, Any] = {"text": rendered} if rendered else {}
    if blocks:
        message["blocks"] = blocks
    return message
