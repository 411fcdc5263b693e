"""Braze: user attributes, events and purchases, API-triggered sends, subscription groups.

Environment (prefix THROUGHLINE_BRAZE by default):
  API_KEY        secret REST API key, sent as ``Authorization: Bearer``
  REST_ENDPOINT  the instance's REST endpoint, e.g. https://rest.iad-01.braze.com (required)
  APP_ID         optional app identifier attached to events and purchases
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations:
  upsert_profiles          /users/track ``attributes``: external_id (required), email,
                           phone (E.164), first_name, last_name, properties (custom attributes)
  track_events             /users/track ``events`` (external_id, event_name, occurred_at,
                           properties) or ``purchases`` when a record has product_id
                           (with value as price, currency, quantity)
  send_messages            /campaigns/trigger/send (record campaign_id, or template_id) or
                           /canvas/trigger/send (record canvas_id): recipients with
                           external_user_id and trigger_properties (template_data plus
                           ``throughline_action_id`` = record key); 50 recipients per call
  add_audience_members     /subscription/status/set ``subscribed`` (target = subscription
                           group id) by external_id, else email, else phone; 50 per call
  remove_audience_members  the same, ``unsubscribed``
At most 75 objects per /users/track request (Braze's combined limit; one write
sends one kind, so this also meets the legacy 75-per-array limit). A 201 with
"minor errors" (``errors: [{type, input_array, index}]``) rejects exactly the
named objects with Braze's text; the rest were processed. Attributes and
subscription states are upserts and safe to resend; Braze cannot deduplicate
events, purchases or sends, so a request with no answer is UNKNOWN, not resent.
429s carry X-RateLimit-Reset (a Unix time), honoured by the HTTP layer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
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
    WriteResult,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, json_object, probe, settle
from connectors.pii import InvalidIdentifier, e164
from connectors.registry import register

IDEMPOTENCY_PROPERTY = "throughline_action_id"
TRACK_RATE = RateLimit(3000, 3)  # /users/track: 3,000 requests per three seconds
MESSAGING_RATE = RateLimit(250_000, 3600)  # shared by /messages/send and the trigger sends
SUBSCRIPTION_RATE = RateLimit(5000, 60)
_BUCKETS = {
    Operation.UPSERT_PROFILES: "users_track",
    Operation.TRACK_EVENTS: "users_track",
    Operation.SEND_MESSAGES: "messaging",
    Operation.ADD_AUDIENCE_MEMBERS: "subscription",
    Operation.REMOVE_AUDIENCE_MEMBERS: "subscription",
}


@register
class BrazeDestination(Destination):
    name = "braze"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: OperationLimits(max_records=75, rate=TRACK_RATE),
            Operation.TRACK_EVENTS: OperationLimits(max_records=75, rate=TRACK_RATE, idempotent=False),
            Operation.SEND_MESSAGES: OperationLimits(max_records=50, rate=MESSAGING_RATE, idempotent=False),
            Operation.ADD_AUDIENCE_MEMBERS: OperationLimits(max_records=50, rate=SUBSCRIPTION_RATE),
            Operation.REMOVE_AUDIENCE_MEMBERS: OperationLimits(max_records=50, rate=SUBSCRIPTION_RATE),
        },
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(self, api_key: str, rest_endpoint: str, *, app_id: str | None = None,
                 http: HttpSettings | None = None) -> None:
        self.app_id = app_id
        self.client = VendorHttpClient(
            "braze", rest_endpoint, http or HttpSettings(), headers={"Authorization": f"Bearer {api_key}"}
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> BrazeDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.secret("API_KEY").reveal(),
            reader.required("REST_ENDPOINT"),
            app_id=reader.text("APP_ID"),
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        # An empty /users/track is a valid no-op that still needs a valid key.
        response, problem = probe(self.client, "POST", "/users/track", json={})
        if response is None:
            return CheckResult(False, problem)
        if response.status_code >= 300:
            return CheckResult(False, f"braze answered HTTP {response.status_code} to an empty track request")
        return CheckResult(True, "braze credentials accepted")

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        limits = self.capabilities.limits(operation)
        limiter = self.client.limiter(_BUCKETS[operation], limits.rate)
        if operation is Operation.SEND_MESSAGES:
            return self._trigger_sends(records, limiter, result)
        if operation in (Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS):
            assert target is not None
            state = "subscribed" if operation is Operation.ADD_AUDIENCE_MEMBERS else "unsubscribed"
            return self._subscription(records, target, state, limiter, result)
        return self._track(operation, records, limiter, limits.idempotent, result)

    # ------------------------------------------------------------ /users/track

    def _track(self, operation: Operation, records: Sequence[Record], limiter: Any, idempotent: bool,
               tally: WriteResult) -> list[RecordResult]:
        outcome: dict[int, RecordResult] = {}
        objects: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for index, record in enumerate(records):
            try:
                array, item = self._track_object(operation, record)
            except (InvalidIdentifier, ValueError) as invalid:
                outcome[index] = RecordResult.rejected(record.key, str(invalid))
                continue
            objects[array].append((index, item))
        if objects:
            body = {array: [item for _, item in items] for array, items in objects.items()}
            sent = [(index, records[index]) for items in objects.values() for index, _ in items]

            def send() -> list[RecordResult]:
                response = self.client.request("POST", "/users/track", json=body, limiter=limiter,
                                               idempotent=idempotent, tally=tally)
                answer = json_object(response)
                if response.status_code >= 400:
                    reason = str(answer.get("message") or f"HTTP {response.status_code}")
                    return [RecordResult.rejected(record.key, reason, str(response.status_code)) for _, record in sent]
                minor = {(e.get("input_array"), e.get("index")): str(e.get("type")) for e in answer.get("errors") or []
                         if isinstance(e, dict)}
                results = []
                for array, items in objects.items():
                    for position, (index, _) in enumerate(items):
                        key = records[index].key
                        reason = minor.get((array, position))
                        results.append(RecordResult.rejected(key, reason, "minor_error") if reason
                                       else RecordResult.accepted(key))
                return results

            for (index, _), answer in zip(sent, settle([record for _, record in sent], send), strict=True):
                outcome[index] = answer
        return [outcome[index] for index in range(len(records))]

    def _track_object(self, operation: Operation, record: Record) -> tuple[str, dict[str, Any]]:
        external_id = record.get("external_id")
        if not external_id:
            raise ValueError("record has no external_id")
        item: dict[str, Any] = {"external_id": str(external_id)}
        if operation is Operation.UPSERT_PROFILES:
            for field in ("email", "first_name", "last_name"):
                if record.get(field):
                    item[field] = str(record.get(field)).strip()
            if record.get("phone"):
                item["phone"] = e164(str(record.get("phone")))
            item.update(dict(record.get("properties", {})))
            return "attributes", item
        if self.app_id:
            item["app_id"] = self.app_id
        item["time"] = str(record.get("occurred_at") or "")
        if not item["time"]:
            raise ValueError("record has no occurred_at")
        if record.get("properties"):
            item["properties"] = dict(record.get("properties"))
        if record.get("product_id"):
            item.update(product_id=str(record.get("product_id")), currency=str(record.get("currency", "USD")),
                        price=float(record.get("value", 0)), quantity=int(record.get("quantity", 1)))
            return "purchases", item
        if not record.get("event_name"):
            raise ValueError("record has no event_name")
        item["name"] = str(record.get("event_name"))
        return "events", item

    # ------------------------------------------------------------ trigger sends

    def _trigger_sends(self, records: Sequence[Record], limiter: Any, tally: WriteResult) -> list[RecordResult]:
        outcome: dict[int, RecordResult] = {}
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            if not record.get("external_id"):
                outcome[index] = RecordResult.rejected(record.key, "record has no external_id")
            elif record.get("canvas_id"):
                groups[("canvas", str(record.get("canvas_id")))].append(index)
            elif record.get("campaign_id") or record.get("template_id"):
                groups[("campaign", str(record.get("campaign_id") or record.get("template_id")))].append(index)
            else:
                outcome[index] = RecordResult.rejected(record.key, "record has no campaign_id or canvas_id")
        for (kind, identifier), indexes in groups.items():
            recipients = []
            for index in indexes:
                record = records[index]
                properties = {**dict(record.get("template_data", {})), IDEMPOTENCY_PROPERTY: record.key}
                recipient: dict[str, Any] = {"external_user_id": str(record.get("external_id"))}
                recipient["canvas_entry_properties" if kind == "canvas" else "trigger_properties"] = properties
                recipients.append(recipient)
            body = {f"{kind}_id": identifier, "recipients": recipients, "broadcast": False}
            group = [records[index] for index in indexes]

            def send(body: dict[str, Any] = body, group: list[Record] = group, kind: str = kind) -> list[RecordResult]:
                path = "/campaigns/trigger/send" if kind == "campaign" else "/canvas/trigger/send"
                response = self.client.request("POST", path, json=body, limiter=limiter,
                                               idempotent=False, tally=tally)
                answer = json_object(response)
                if response.status_code >= 400:
                    reason = str(answer.get("message") or f"HTTP {response.status_code}")
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in group]
                return [RecordResult.accepted(r.key, answer.get("dispatch_id")) for r in group]

            for index, answer in zip(indexes, settle(group, send), strict=True):
                outcome[index] = answer
        return [outcome[index] for index in range(len(records))]

    # ------------------------------------------------------------ subscription groups

    def _subscription(self, records: Sequence[Record], group_id: str, state: str, limiter: Any,
                      tally: WriteResult) -> list[RecordResult]:
        outcome: dict[int, RecordResult] = {}
        by_kind: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for index, record in enumerate(records):
            try:
                if record.get("external_id"):
                    by_kind["external_id"].append((index, str(record.get("external_id"))))
                elif record.get("email"):
                    by_kind["email"].append((index, str(record.get("email")).strip()))
                elif record.get("phone"):
                    by_kind["phone"].append((index, e164(str(record.get("phone")))))
                else:
                    raise InvalidIdentifier("record has no external_id, email or phone")
            except InvalidIdentifier as invalid:
                outcome[index] = RecordResult.rejected(record.key, str(invalid))
        for kind, items in by_kind.items():
            body = {"subscription_group_id": group_id, "subscription_state": state, kind: [v for _, v in items]}
            group = [records[index] for index, _ in items]

            def send(body: dict[str, Any] = body, group: list[Record] = group) -> list[RecordResult]:
                response = self.client.request("POST", "/subscription/status/set", json=body, limiter=limiter,
                                               tally=tally)
                if response.status_code >= 400:
                    reason = str(json_object(response).get("message") or f"HTTP {response.status_code}")
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in group]
                return [RecordResult.accepted(r.key) for r in group]

            for (index, _), answer in zip(items, settle(group, send), strict=True):
                outcome[index] = answer
        return [outcome[index] for index in range(len(records))]



