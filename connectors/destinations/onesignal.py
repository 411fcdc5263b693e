"""OneSignal push: records with the same content go in one notification to up to 20,000 recipients.

Environment (prefix THROUGHLINE_ONESIGNAL by default):
  APP_ID        the OneSignal app
  API_KEY       secret REST API key (``Authorization: Key <key>``)
  BASE_URL      default https://api.onesignal.com
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

send_messages reads ``external_id`` (OneSignal's External ID alias; targeted with
``target_channel: push``) or ``subscription_id``, ``title``, ``body`` (or a message sync's
rendered ``template_data``), ``data`` and ``link``. Each request carries an ``idempotency_key``
made from its records' keys, which OneSignal honours for 30 days: a resend after a lost answer
creates nothing new, so this route is idempotent (unlike FCM).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from connectors.base import (
    Capabilities,
    CheckResult,
    Destination,
    Operation,
    OperationLimits,
    RateLimit,
    Record,
    RecordResult,
    RecordStatus,
    WriteResult,
    chunked,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, json_object, probe, settle
from connectors.registry import register

MAX_RECIPIENTS = 20_000
# create-notification requests per app (documentation.onesignal.com/reference/rate-limits)
DEFAULT_RATE = RateLimit(150, 1)
_KEY_NAMESPACE = uuid.UUID("7f1c2a4e-0b7d-4a52-9a43-5d1f0a6f2c11")


class Notifications(list):  # type: ignore[type-arg]
    """One batch's records, grouped by content: (indexes, recipients, keys, request body) per
    notification, and the results of the records that have no recipient."""

    def __init__(self, records: Sequence[Record],
                 notifications: list[tuple[list[int], list[str], list[str], dict[str, Any]]],
                 rejected: dict[int, RecordResult]) -> None:
        super().__init__(records)
        self.notifications, self.rejected = notifications, rejected


@register
class OneSignalDestination(Destination):
    name = "onesignal"
    capabilities = Capabilities(
        operations={
            Operation.SEND_MESSAGES: OperationLimits(max_records=MAX_RECIPIENTS, rate=DEFAULT_RATE, idempotent=True),
        },
    )

    def __init__(self, app_id: str, api_key: str, *, base_url: str = "https://api.onesignal.com",
                 http: HttpSettings | None = None) -> None:
        self.app_id = app_id
        self.client = VendorHttpClient("onesignal", base_url, http or HttpSettings(),
                                       headers={"Authorization": f"Key {api_key}"})
        self.limiter = self.client.limiter("notifications", DEFAULT_RATE)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> OneSignalDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.required("APP_ID"),
            reader.secret("API_KEY").reveal(),
            base_url=reader.text("BASE_URL", "https://api.onesignal.com") or "",
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        # An empty notification: a wrong key is refused (403) before the body is read (400).
        response, problem = probe(self.client, "POST", "/notifications", json={"app_id": self.app_id})
        if response is None:
            return CheckResult(False, problem)
        return CheckResult(response.status_code == 400, f"onesignal answered HTTP {response.status_code}")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        # grouped here, so the next batch's notifications are built while the previous one is on the wire
        return (self._group(chunk) for chunk in chunked(records, MAX_RECIPIENTS))

    def _group(self, records: Sequence[Record]) -> Notifications:
        rejected: dict[int, RecordResult] = {}
        groups: dict[tuple[Any, ...], tuple[list[int], list[str]]] = {}
        for index, record in enumerate(records):
            if not index & 1023:
                time.sleep(0)  # hands the GIL to the sender thread waiting on the previous batch (as pii.hash_column)
            fields = record.fields  # per-record work is most of this route's cost: plain dict reads
            recipient, kind = fields.get("external_id"), "external_id"
            if not recipient:
                recipient, kind = fields.get("subscription_id"), "subscription_id"
            if not recipient:
                rejected[index] = RecordResult.rejected(record.key, "no external_id or subscription_id", "no_recipient")
                continue
            data, rendered = fields.get("data"), fields.get("template_data")
            signature = (kind, fields.get("title"), fields.get("body"), fields.get("text"), fields.get("link"),
                         data if data is None else repr(data), rendered if rendered is None else repr(rendered))
            if (group := groups.get(signature)) is None:
                group = groups[signature] = ([], [])
            group[0].append(index)
            group[1].append(recipient if type(recipient) is str else str(recipient))
        notifications = []
        for (kind, *_), (indexes, recipients) in groups.items():
            keys = [records[index].key for index in indexes]
            body: dict[str, Any] = {"app_id": self.app_id, **_content(records[indexes[0]]),
                                    "idempotency_key": str(uuid.uuid5(_KEY_NAMESPACE, "\x00".join(keys)))}
            if kind == "external_id":
                body.update(include_aliases={"external_id": recipients}, target_channel="push")
            else:
                body["include_subscription_ids"] = recipients
            notifications.append((indexes, recipients, keys, body))
        return Notifications(records, notifications, rejected)

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        batch = records if isinstance(records, Notifications) else self._group(records)
        outcome = dict(batch.rejected)
        for indexes, recipients, keys, body in batch.notifications:
            if len(indexes) == len(batch):  # the usual batch: one message, every record has a recipient
                return self._notify(batch, recipients, keys, body, result)
            answers = self._notify([batch[index] for index in indexes], recipients, keys, body, result)
            outcome.update(zip(indexes, answers, strict=True))
        return [outcome[index] for index in range(len(batch))]

    def _notify(self, records: Sequence[Record], recipients: list[str], keys: list[str], body: dict[str, Any],
                tally: WriteResult) -> list[RecordResult]:
        def send() -> list[RecordResult]:
            response = self.client.request("POST", "/notifications", json=body, limiter=self.limiter, tally=tally)
            answer = json_object(response)
            errors = answer.get("errors")
            if response.status_code != 200 or not answer.get("id"):
                reason = "; ".join(map(str, errors)) if isinstance(errors, list) else f"HTTP {response.status_code}"
                code = "not_subscribed" if response.status_code == 200 else str(response.status_code)
                return RecordResult.for_keys(keys, RecordStatus.REJECTED, reason, code)
            found = errors if isinstance(errors, dict) else {}
            invalid = {*found.get("invalid_aliases", {}).get("external_id", []), *found.get("invalid_player_ids", [])}
            accepted = RecordResult.for_keys(keys, RecordStatus.ACCEPTED, vendor_id=answer["id"])
            if not invalid:
                return accepted
            return [RecordResult.rejected(result.key, "no push subscription for this recipient", "invalid_aliases")
                    if recipient in invalid else result for result, recipient in zip(accepted, recipients, strict=True)]

        return settle(records, send)


def _content(record: Record) -> dict[str, Any]:
    rendered = record.get("template_data") or {}
    body = record.get("body") or rendered.get("body") or record.get("text") or ""
    content: dict[str, Any] = {"contents": {"en": str(body)}}
    if title := record.get("title") or rendered.get("title"):
        content["headings"] = {"en": str(title)}
    if data := record.get("data"):
        content["data"] = dict(data)
    if link := record.get("link"):
        content["url"] = str(link)
    return content
