"""SendGrid: transactional email (v3 mail send) and Marketing Campaigns contacts.

Environment (prefix THROUGHLINE_SENDGRID by default):
  API_KEY      secret, sent as ``Authorization: Bearer``
  FROM_EMAIL   sender for send_messages (a record's ``from_email`` overrides)
  FROM_NAME    optional sender name
  BASE_URL     default https://api.sendgrid.com
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations and the records they read:
  send_messages            email, subject, text | html | template_id (+ template_data), from_email
                           One request carries up to 1000 personalizations that share
                           content; each carries ``custom_args.throughline_action_id``
                           = record key, so delivery events map back to the action.
                           SendGrid cannot deduplicate a resend, so a request with no
                           answer is UNKNOWN, never resent.
  upsert_profiles          email | external_id, first_name, last_name, properties
                           (properties become ``custom_fields``, keyed by field id)
  add_audience_members     as upsert, with target = list id (PUT contacts with list_ids)
  remove_audience_members  email, target = list id: contact ids are looked up by email
                           (100 per search), then removed from the list.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

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
    json_size,
    split_by_limits,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import (
    Explanation,
    HttpSettings,
    VendorHttpClient,
    deliver_with_partial_rejects,
    probe,
    settle,
)
from connectors.registry import register

IDEMPOTENCY_ARG = "throughline_action_id"
_MARKETING_RATE = RateLimit(600, 60)  # SendGrid's documented v3 default per-minute quota
_CONTACT_LIMITS = OperationLimits(max_records=30_000, max_bytes=6 * 1024 * 1024, rate=_MARKETING_RATE)
_PERSONALIZATION_INDEX = re.compile(r"^personalizations\.(\d+)")
_CONTACT_INDEX = re.compile(r"^contacts(?:\[(\d+)\]|\.(\d+))")


@register
class SendGridDestination(Destination):
    name = "sendgrid"
    capabilities = Capabilities(
        operations={
            # Mail send has no published request quota; the server's
            # X-RateLimit headers still pause us when it reports one.
            Operation.SEND_MESSAGES: OperationLimits(
                max_records=1000, max_bytes=30 * 1024 * 1024, rate=None, idempotent=False
            ),
            Operation.UPSERT_PROFILES: _CONTACT_LIMITS,
            Operation.ADD_AUDIENCE_MEMBERS: _CONTACT_LIMITS,
            Operation.REMOVE_AUDIENCE_MEMBERS: OperationLimits(max_records=100, rate=_MARKETING_RATE),
        },
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(
        self,
        api_key: str,
        *,
        from_email: str | None = None,
        from_name: str | None = None,
        base_url: str = "https://api.sendgrid.com",
        http: HttpSettings | None = None,
    ) -> None:
        self.from_email = from_email
        self.from_name = from_name
        self.client = VendorHttpClient(
            "sendgrid", base_url, http or HttpSettings(), headers={"Authorization": f"Bearer {api_key}"}
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> SendGridDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.secret("API_KEY").reveal(),
            from_email=reader.text("FROM_EMAIL"),
            from_name=reader.text("FROM_NAME"),
            base_url=reader.text("BASE_URL", "https://api.sendgrid.com") or "",
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/v3/scopes")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"sendgrid answered HTTP {response.status_code} to a scopes lookup")
        scopes = set(response.json().get("scopes", []))
        missing = {"mail.send"} - scopes
        if missing:
            return CheckResult(False, f"the API key lacks scopes: {', '.join(sorted(missing))}")
        return CheckResult(True, "sendgrid credentials accepted")

    def _limiter(self, operation: Operation) -> Any:
        bucket = "mail" if operation is Operation.SEND_MESSAGES else "marketing"
        return self.client.limiter(bucket, self.capabilities.limits(operation).rate)

    # ------------------------------------------------------------ batching

    def batches(self, operation: Operation, records: Sequence[Record]) -> Iterator[Sequence[Record]]:
        if operation in (Operation.UPSERT_PROFILES, Operation.ADD_AUDIENCE_MEMBERS):
            limits = self.capabilities.limits(operation)
            return split_by_limits(records, limits.max_records, limits.max_bytes, lambda r: json_size(_contact(r)))
        return super().batches(operation, records)

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        if operation is Operation.SEND_MESSAGES:
            return self._send_messages(records, result)
        if operation is Operation.REMOVE_AUDIENCE_MEMBERS:
            assert target is not None
            return self._remove_from_list(records, target, result)
        return self._upsert_contacts(records, target if operation is Operation.ADD_AUDIENCE_MEMBERS else None, result)

    # ------------------------------------------------------------ mail send

    def _send_messages(self, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        outcome: dict[str, RecordResult] = {}
        groups: dict[tuple[Any, ...], list[Record]] = defaultdict(list)
        for record in records:
            if not record.get("email"):
                outcome[record.key] = RecordResult.rejected(record.key, "record has no email address")
                continue
            sender = record.get("from_email") or self.from_email
            if not sender:
                raise ConfigurationError("sendgrid: set THROUGHLINE_SENDGRID_FROM_EMAIL or a from_email field")
            # Personalizations in one request share the message body and sender.
            groups[(record.get("template_id"), record.get("text"), record.get("html"), sender)].append(record)
        limiter = self._limiter(Operation.SEND_MESSAGES)
        for group in groups.values():

            def send(pending: Sequence[Record]) -> requests.Response:
                return self.client.request(
                    "POST",
                    "/v3/mail/send",
                    json=self._mail_payload(pending),
                    idempotent=False,
                    limiter=limiter,
                    tally=tally,
                )

            for result in deliver_with_partial_rejects(group, send, _accept_mail, _explain(_PERSONALIZATION_INDEX)):
                outcome[result.key] = result
        return [outcome[record.key] for record in records]

    def _mail_payload(self, records: Sequence[Record]) -> dict[str, Any]:
        first = records[0]
        sender = {"email": first.get("from_email") or self.from_email}
        if self.from_name:
            sender["name"] = self.from_name
        payload: dict[str, Any] = {"from": sender, "personalizations": [_personalization(r) for r in records]}
        if first.get("template_id"):
            payload["template_id"] = first.get("template_id")
        else:
            content = [{"type": "text/plain", "value": first.get("text")}] if first.get("text") else []
            if first.get("html"):
                content.append({"type": "text/html", "value": first.get("html")})
            payload["content"] = content
        return payload

    # ------------------------------------------------------------ contacts

    def _upsert_contacts(
        self, records: Sequence[Record], list_id: str | None, tally: WriteResult
    ) -> list[RecordResult]:
        outcome: dict[str, RecordResult] = {}
        sendable = []
        for record in records:
            if record.get("email") or record.get("external_id"):
                sendable.append(record)
            else:
                outcome[record.key] = RecordResult.rejected(record.key, "record has neither email nor external_id")
        limiter = self._limiter(Operation.UPSERT_PROFILES)

        def send(pending: Sequence[Record]) -> requests.Response:
            body: dict[str, Any] = {"contacts": [_contact(r) for r in pending]}
            if list_id:
                body["list_ids"] = [list_id]
            return self.client.request("PUT", "/v3/marketing/contacts", json=body, limiter=limiter, tally=tally)

        if sendable:
            for result in deliver_with_partial_rejects(sendable, send, _accept_job, _explain(_CONTACT_INDEX)):
                outcome[result.key] = result
        return [outcome[record.key] for record in records]

    def _remove_from_list(self, records: Sequence[Record], list_id: str, tally: WriteResult) -> list[RecordResult]:
        limiter = self._limiter(Operation.REMOVE_AUDIENCE_MEMBERS)

        def remove() -> list[RecordResult]:
            emails = [str(r.get("email", "")).strip().lower() for r in records]
            lookup = [e for e in emails if e]
            found: dict[str, str] = {}
            if lookup:
                response = self.client.request(
                    "POST",
                    "/v3/marketing/contacts/search/emails",
                    json={"emails": lookup},
                    limiter=limiter,
                    tally=tally,
                )
                if response.status_code == 200:
                    for email, entry in response.json().get("result", {}).items():
                        if isinstance(entry, dict) and "contact" in entry:
                            found[email.lower()] = entry["contact"]["id"]
                elif response.status_code != 404:  # 404: none of them is a contact
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in records]
            job_id = None
            if found:
                response = self.client.request(
                    "DELETE",
                    f"/v3/marketing/lists/{list_id}/contacts",
                    params={"contact_ids": ",".join(sorted(set(found.values())))},
                    limiter=limiter,
                    tally=tally,
                )
                if response.status_code >= 400:
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in records]
                job_id = response.json().get("job_id")
            # Someone who is not a contact is not on the list: removal is done.
            return [
                RecordResult.accepted(r.key, job_id if e in found else None)
                for r, e in zip(records, emails, strict=True)
            ]

        return settle(records, remove)


def _personalization(record: Record) -> dict[str, Any]:
    recipient = {"email": str(record.get("email")).strip()}
    if record.get("name"):
        recipient["name"] = record.get("name")
    personalization: dict[str, Any] = {"to": [recipient], "custom_args": {IDEMPOTENCY_ARG: record.key}}
    if record.get("subject"):
        personalization["subject"] = record.get("subject")
    if record.get("template_data"):
        personalization["dynamic_template_data"] = dict(record.get("template_data"))
    return personalization


def _contact(record: Record) -> dict[str, Any]:
    contact: dict[str, Any] = {}
    for source, target in (
        ("email", "email"),
        ("external_id", "external_id"),
        ("first_name", "first_name"),
        ("last_name", "last_name"),
    ):
        if record.get(source):
            contact[target] = str(record.get(source)).strip()
    if record.get("properties"):
        contact["custom_fields"] = {k: v for k, v in dict(record.get("properties")).items() if v is not None}
    return contact


def _accept_mail(records: Sequence[Record], response: requests.Response) -> list[RecordResult]:
    message_id = response.headers.get("X-Message-Id")
    return [RecordResult.accepted(r.key, message_id) for r in records]


def _accept_job(records: Sequence[Record], response: requests.Response) -> list[RecordResult]:
    job_id = response.json().get("job_id") if response.content else None
    return [RecordResult.accepted(r.key, job_id) for r in records]


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_text(response: requests.Response) -> str:
    messages = [str(e.get("message")) for e in _errors(response) if e.get("message")]
    return "; ".join(messages) or f"HTTP {response.status_code}"


def _explain(index_pattern: re.Pattern[str]) -> Any:
    def explain(response: requests.Response, batch_size: int) -> Explanation:
        named: dict[int, tuple[str, str | None]] = {}
        for error in _errors(response):
            match = index_pattern.match(str(error.get("field") or ""))
            if match:
                index = int(next(group for group in match.groups() if group is not None))
                named.setdefault(index, (str(error.get("message")), None))
        return named, _error_text(response)

    return explain
