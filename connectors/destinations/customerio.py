"""Customer.io: people and events (Track API), manual segments, transactional email (App API).

Environment (prefix THROUGHLINE_CUSTOMERIO by default):
  SITE_ID                  Track API site id (Basic auth user)
  TRACK_API_KEY            secret Track API key (Basic auth password)
  APP_API_KEY              secret App API key (``Authorization: Bearer``), needed for send_messages
  REGION                   us (default) or eu: picks track[-eu].customer.io / api[-eu].customer.io
  TRACK_URL, APP_URL       override the regional base URLs
  TRANSACTIONAL_MESSAGE_ID default template for send_messages (a record's template_id wins)
  MAX_CONCURRENCY          transactional sends in flight, default 8
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations:
  upsert_profiles          POST /api/v2/batch ``identify``: external_id (as ``id``) or email,
                           first_name, last_name, phone, properties as attributes
  track_events             ``event``: event_name, occurred_at, properties; the event ``id`` is
                           a ULID derived from the record key, so Customer.io stores a resent
                           event once
  delete_profiles          ``delete``
  add_audience_members     POST /api/v1/segments/{target}/add_customers, ``ids`` (1000 per call,
  remove_audience_members  ``id_type=email`` for records without external_id) / remove_customers
  send_messages            App API POST /v1/send/email per message: email, template_id,
                           template_data (``message_data``), external_id or email as identifiers
A v2 batch stays under 500 KB; an entry over 32 KB is refused by Customer.io on
its own. A 207 names failed entries by ``batch_index``: those records are
REJECTED with Customer.io's reason, the rest ACCEPTED. Track API calls are
upserts or deduplicated, so they are resent after a lost answer. Customer.io
documents no idempotency key for transactional sends: the action id travels in
``message_data`` and an ``X-Throughline-Action-Id`` header for tracing, and a
send whose answer was lost is UNKNOWN, never resent. Published rates: Track API
100 requests/s, transactional 100/s, other App API calls 10/s.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
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
from connectors.http import HttpSettings, VendorHttpClient, map_bounded, json_object, probe, settle
from connectors.pii import InvalidIdentifier, e164
from connectors.redaction import register_secret
from connectors.registry import register

ACTION_HEADER = "X-Throughline-Action-Id"
TRACK_RATE = RateLimit(100, 1)
TRANSACTIONAL_RATE = RateLimit(100, 1)
BATCH_MAX_BYTES = 500 * 1024
_BATCH = OperationLimits(max_records=1000, max_bytes=BATCH_MAX_BYTES, rate=TRACK_RATE)
_SEGMENT = OperationLimits(max_records=1000, rate=TRACK_RATE)
_REGIONS = {"us": ("https://track.customer.io", "https://api.customer.io"),
            "eu": ("https://track-eu.customer.io", "https://api-eu.customer.io")}
_BATCH_ACTIONS = {Operation.UPSERT_PROFILES: "identify", Operation.TRACK_EVENTS: "event",
                  Operation.DELETE_PROFILES: "delete"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@register
class CustomerIoDestination(Destination):
    name = "customerio"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: _BATCH,
            Operation.TRACK_EVENTS: _BATCH,
            Operation.DELETE_PROFILES: _BATCH,
            Operation.ADD_AUDIENCE_MEMBERS: _SEGMENT,
            Operation.REMOVE_AUDIENCE_MEMBERS: _SEGMENT,
            Operation.SEND_MESSAGES: OperationLimits(max_records=500, rate=TRANSACTIONAL_RATE, idempotent=False),
        },
        max_concurrency=8,
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(
        self,
        site_id: str,
        track_api_key: str,
        *,
        app_api_key: str | None = None,
        region: str = "us",
        track_url: str | None = None,
        app_url: str | None = None,
        transactional_message_id: str | None = None,
        http: HttpSettings | None = None,
    ) -> None:
        if region not in _REGIONS:
            raise ConfigurationError("customerio: REGION must be us or eu")
        settings = http or HttpSettings()
        self.transactional_message_id = transactional_message_id
        self.concurrency = settings.max_concurrency or self.capabilities.max_concurrency
        self.track = VendorHttpClient("customerio", track_url or _REGIONS[region][0], settings,
                                      auth=(site_id, track_api_key))
        self.app = (
            VendorHttpClient("customerio", app_url or _REGIONS[region][1], settings,
                             headers={"Authorization": f"Bearer {app_api_key}"}, pool_size=self.concurrency)
            if app_api_key else None
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> CustomerIoDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        app_key = reader.text("APP_API_KEY")
        if app_key:
            register_secret(app_key)
        return cls(
            reader.required("SITE_ID"),
            reader.secret("TRACK_API_KEY").reveal(),
            app_api_key=app_key,
            region=(reader.text("REGION", "us") or "us").lower(),
            track_url=reader.text("TRACK_URL"),
            app_url=reader.text("APP_URL"),
            transactional_message_id=reader.text("TRANSACTIONAL_MESSAGE_ID"),
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.track.close()
        if self.app is not None:
            self.app.close()

    def check(self) -> CheckResult:
        # /api/v1/accounts/region answers any valid Track API credential.
        response, problem = probe(self.track, "GET", "/api/v1/accounts/region")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"customerio answered HTTP {response.status_code} to a region lookup")
        return CheckResult(True, "customer.io track credentials accepted")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        if operation in _BATCH_ACTIONS:
            def size(record: Record) -> int:
                try:
                    return json_size(_entry(operation, record))
                except (InvalidIdentifier, ValueError):
                    return 0  # refused locally; takes no room in the request
            return split_by_limits(records, _BATCH.max_records, BATCH_MAX_BYTES, size, envelope_bytes=16)
        return super().batches(operation, records)

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        if operation in _BATCH_ACTIONS:
            return self._batch(operation, records, result)
        if operation is Operation.SEND_MESSAGES:
            if self.app is None:
                raise ConfigurationError("customerio: send_messages needs THROUGHLINE_CUSTOMERIO_APP_API_KEY")
            limiter = self.app.limiter("transactional", TRANSACTIONAL_RATE)
            return map_bounded(lambda record: self._send_one(record, limiter, result), records, self.concurrency)
        assert target is not None
        return self._segment(operation, records, target, result)

    # ------------------------------------------------------------ Track API v2 batch

    def _batch(self, operation: Operation, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        outcome: dict[int, RecordResult] = {}
        entries: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            try:
                entries.append((index, _entry(operation, record)))
            except (InvalidIdentifier, ValueError) as invalid:
                outcome[index] = RecordResult.rejected(record.key, str(invalid))
        if entries:
            sent = [records[index] for index, _ in entries]

            def send() -> list[RecordResult]:
                # Encoded the way the batch was measured, so 500 KB means 500 KB on the wire.
                payload = json.dumps({"batch": [entry for _, entry in entries]}, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")
                response = self.track.request(
                    "POST", "/api/v2/batch", data=payload, headers={"Content-Type": "application/json"},
                    limiter=self.track.limiter("track", TRACK_RATE), tally=tally,
                )
                if response.status_code >= 400:
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in sent]
                failed: dict[int, str] = {}
                if response.status_code == 207:
                    for error in (json_object(response).get("errors") or []):
                        if isinstance(error, dict) and isinstance(error.get("batch_index"), int):
                            failed.setdefault(error["batch_index"], str(error.get("message") or error.get("reason")))
                return [
                    RecordResult.rejected(r.key, failed[i], "207") if i in failed else RecordResult.accepted(r.key)
                    for i, r in enumerate(sent)
                ]

            for (index, _), answer in zip(entries, settle(sent, send), strict=True):
                outcome[index] = answer
        return [outcome[index] for index in range(len(records))]

    # ------------------------------------------------------------ manual segments

    def _segment(self, operation: Operation, records: Sequence[Record], segment: str,
                 tally: WriteResult) -> list[RecordResult]:
        action = "add_customers" if operation is Operation.ADD_AUDIENCE_MEMBERS else "remove_customers"
        outcome: dict[int, RecordResult] = {}
        by_type: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for index, record in enumerate(records):
            if record.get("external_id"):
                by_type["id"].append((index, str(record.get("external_id"))))
            elif record.get("email"):
                by_type["email"].append((index, str(record.get("email")).strip()))
            else:
                outcome[index] = RecordResult.rejected(record.key, "record has neither external_id nor email")
        for id_type, items in by_type.items():
            group = [records[index] for index, _ in items]

            def send(items: list[tuple[int, str]] = items, group: list[Record] = group,
                     id_type: str = id_type) -> list[RecordResult]:
                response = self.track.request(
                    "POST", f"/api/v1/segments/{segment}/{action}", params={"id_type": id_type},
                    json={"ids": [value for _, value in items]}, limiter=self.track.limiter("track", TRACK_RATE),
                    tally=tally,
                )
                if response.status_code >= 400:
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in group]
                return [RecordResult.accepted(r.key) for r in group]

            for (index, _), answer in zip(items, settle(group, send), strict=True):
                outcome[index] = answer
        return [outcome[index] for index in range(len(records))]

    # ------------------------------------------------------------ transactional email

    def _send_one(self, record: Record, limiter: Any, tally: WriteResult) -> RecordResult:
        assert self.app is not None
        message_id = record.get("template_id") or self.transactional_message_id
        if not record.get("email"):
            return RecordResult.rejected(record.key, "record has no email address")
        if not message_id:
            raise ConfigurationError("customerio: set TRANSACTIONAL_MESSAGE_ID or a template_id field")
        identifiers = {"id": str(record.get("external_id"))} if record.get("external_id") else {
            "email": str(record.get("email")).strip()}
        body = {
            "transactional_message_id": message_id,
            "to": str(record.get("email")).strip(),
            "identifiers": identifiers,
            "message_data": {**dict(record.get("template_data", {})), "throughline_action_id": record.key},
            "headers": {ACTION_HEADER: record.key},
        }
        for field in ("subject", "from_email"):
            if record.get(field):
                body["subject" if field == "subject" else "from"] = str(record.get(field))

        def send() -> list[RecordResult]:
            assert self.app is not None
            response = self.app.request("POST", "/v1/send/email", json=body, idempotent=False, limiter=limiter,
                                        tally=tally)
            if response.status_code >= 400:
                return [RecordResult.rejected(record.key, _error_text(response), str(response.status_code))]
            return [RecordResult.accepted(record.key, json_object(response).get("delivery_id"))]

        return settle([record], send)[0]


def _identifiers(record: Record) -> dict[str, str]:
    if record.get("external_id"):
        return {"id": str(record.get("external_id"))}
    if record.get("email"):
        return {"email": str(record.get("email")).strip()}
    raise InvalidIdentifier("record has neither external_id nor email")


def _entry(operation: Operation, record: Record) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "person", "identifiers": _identifiers(record), "action": _BATCH_ACTIONS[operation]}
    if operation is Operation.UPSERT_PROFILES:
        attributes = dict(record.get("properties", {}))
        for field in ("email", "first_name", "last_name"):
            if record.get(field):
                attributes[field] = str(record.get(field)).strip()
        if record.get("phone"):
            attributes["phone"] = e164(str(record.get("phone")))
        entry["attributes"] = attributes
    elif operation is Operation.TRACK_EVENTS:
        if not record.get("event_name"):
            raise ValueError("record has no event_name")
        timestamp = _unix(record.get("occurred_at"))
        entry.update(name=str(record.get("event_name")), id=ulid_for(record.key, timestamp or 0))
        if timestamp is not None:
            entry["timestamp"] = timestamp
        if record.get("properties"):
            entry["attributes"] = dict(record.get("properties"))
    return entry


def _unix(value: Any) -> int | None:
    if not value:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def ulid_for(key: str, timestamp_seconds: int) -> str:
    """A ULID that is a pure function of the record: 48-bit millisecond time,
    then 80 bits of the key's SHA-256, in Crockford base32."""
    value = (timestamp_seconds * 1000 & (2**48 - 1)) << 80
    value |= int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:10], "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _error_text(response: requests.Response) -> str:
    body = json_object(response)
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    errors = meta.get("errors") if isinstance(meta.get("errors"), list) else []
    return str(meta.get("error") or "; ".join(map(str, errors)) or f"HTTP {response.status_code}")
