"""HubSpot (CRM v3): contacts by email, list memberships, custom events, sales hand-offs.

Environment (prefix THROUGHLINE_HUBSPOT by default):
  ACCESS_TOKEN    secret private app token, sent as ``Authorization: Bearer``
  BASE_URL        default https://api.hubapi.com
  HANDOFF_OBJECT  task (default) or note: what a send_messages record creates
  OWNER_ID        optional ``hubspot_owner_id`` for hand-off tasks and notes
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations:
  upsert_profiles          POST /crm/v3/objects/contacts/batch/upsert, ``idProperty: email``,
                           100 per batch: email, first_name, last_name, phone, properties
                           (HubSpot internal property names). A 207 names failed inputs by
                           ``objectWriteTraceId`` (the record key): REJECTED with HubSpot's reason.
  add_audience_members     the same upsert (HubSpot needs record ids), then
                           PUT /crm/v3/lists/{target}/memberships/add (MANUAL or SNAPSHOT lists)
  remove_audience_members  ids by POST .../contacts/batch/read (idProperty email), then
                           .../memberships/remove; a contact HubSpot does not know is not a member
  track_events             POST /events/v3/send/batch, 500 per batch: email, event_name (the
                           fully qualified ``pe<HubID>_<name>``), occurred_at, properties; the
                           event ``uuid`` derives from the record key, so a resend is stored once
  send_messages            a sales hand-off: a CRM task (or note) associated with the contact
                           (upserted by email first): subject, text or html. Not idempotent:
                           a lost answer is UNKNOWN, never resent.
Published limits: private apps 100 requests per 10 s (Free/Starter; 190 on Professional and
Enterprise: raise RATE_PER_SECOND), 100 inputs per CRM batch call. A 429 names its
``policyName``: TEN_SECONDLY_ROLLING is retried; DAILY leaves the records RETRYABLE for a later run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.base import (Capabilities, CheckResult, ConfigurationError, Destination, Operation, OperationLimits,
                             RateLimit, Record, RecordResult, RecordStatus, WriteResult)
from connectors.config import EnvReader, default_prefix
from connectors.http import (Classification, HttpSettings, Verdict, VendorHttpClient, deliver_with_partial_rejects,
                             json_object, probe, settle)
from connectors.registry import register

PRIVATE_APP_RATE = RateLimit(100, 10)
_CRM_BATCH = OperationLimits(max_records=100, rate=PRIVATE_APP_RATE)
_HANDOFF = {"task": ("tasks", 204), "note": ("notes", 202)}  # object, HUBSPOT_DEFINED association to contact
_FIELDS = {"first_name": "firstname", "last_name": "lastname", "phone": "phone"}
_EVENT_NAMESPACE = uuid.UUID("6f1c8e0a-3b7d-4f43-9c3e-2d8f0b1a7e55")


def daily_limit_signal(response: requests.Response) -> Classification | None:
    """HubSpot's daily limit resets at midnight: waiting in the run cannot help."""
    try:
        body = response.json()
    except ValueError:
        return None
    if response.status_code == 429 and isinstance(body, dict) and body.get("policyName") == "DAILY":
        return Classification(Verdict.TRANSIENT, 86_400.0, "HubSpot daily limit reached", throttled=True)
    return None


@register
class HubSpotDestination(Destination):
    name = "hubspot"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: _CRM_BATCH,
            Operation.ADD_AUDIENCE_MEMBERS: _CRM_BATCH,
            Operation.REMOVE_AUDIENCE_MEMBERS: _CRM_BATCH,
            Operation.TRACK_EVENTS: OperationLimits(max_records=500, rate=PRIVATE_APP_RATE),
            Operation.SEND_MESSAGES: OperationLimits(max_records=100, rate=PRIVATE_APP_RATE, idempotent=False),
        },
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(self, access_token: str, *, base_url: str = "https://api.hubapi.com", handoff_object: str = "task",
                 owner_id: str | None = None, http: HttpSettings | None = None) -> None:
        if handoff_object not in _HANDOFF:
            raise ConfigurationError("hubspot: HANDOFF_OBJECT must be task or note")
        self.handoff_object, self.owner_id = handoff_object, owner_id
        self.client = VendorHttpClient("hubspot", base_url, http or HttpSettings(),
                                       headers={"Authorization": f"Bearer {access_token}"},
                                       body_signals=(daily_limit_signal,))
        self.limiter = self.client.limiter("private-app", PRIVATE_APP_RATE)  # one bucket for the whole app

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> HubSpotDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(reader.secret("ACCESS_TOKEN").reveal(), base_url=reader.text("BASE_URL", "https://api.hubapi.com")
                   or "", handoff_object=(reader.text("HANDOFF_OBJECT", "task") or "task").lower(),
                   owner_id=reader.text("OWNER_ID"), http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/crm/v3/objects/contacts", params={"limit": 1})
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"hubspot answered HTTP {response.status_code} to a contacts lookup")
        return CheckResult(True, "hubspot private app token accepted")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        """HubSpot refuses a whole upsert that names one email twice: a repeat starts the next batch."""
        if operation is Operation.TRACK_EVENTS:
            return super().batches(operation, records)
        return _distinct_batches(records, self.capabilities.limits(operation).max_records)

    def _post(self, method: str, path: str, body: Any, tally: WriteResult,
              idempotent: bool = True) -> requests.Response:
        return self.client.request(method, path, json=body, limiter=self.limiter, idempotent=idempotent, tally=tally)

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        if operation is Operation.TRACK_EVENTS:
            return self._events(records, result)
        if operation is Operation.REMOVE_AUDIENCE_MEMBERS:
            return settle(records, lambda: self._remove(records, str(target), result))
        # A hand-off's properties are the journey's context, not contact properties.
        outcome, ids = self._upsert(records, result, with_properties=operation is not Operation.SEND_MESSAGES)
        ready = [r for r in records if r.key in ids]
        if operation is Operation.ADD_AUDIENCE_MEMBERS and ready:
            added = settle(ready, lambda: self._membership("add", ready, str(target), ids, result))
            outcome.update({answer.key: answer for answer in added})
        elif operation is Operation.SEND_MESSAGES and ready:
            outcome.update({answer.key: answer for answer in settle(ready, lambda: self._handoff(ready, ids, result))})
        return [outcome[record.key] for record in records]

    # ------------------------------------------------------------ contacts

    def _upsert(self, records: Sequence[Record], tally: WriteResult,
                with_properties: bool = True) -> tuple[dict[str, RecordResult], dict[str, str]]:
        outcome: dict[str, RecordResult] = {}
        inputs = []
        for record in records:
            if not record.get("email"):
                outcome[record.key] = RecordResult.rejected(record.key, "record has no email")
                continue
            given = dict(record.get("properties", {})) if with_properties else {}
            properties = {k: _text(v) for k, v in given.items() if v is not None}
            properties.update({_FIELDS[f]: str(record.get(f)) for f in _FIELDS if record.get(f)})
            inputs.append({"idProperty": "email", "id": str(record.get("email")).strip(), "properties": properties,
                           "objectWriteTraceId": record.key})
        sent = [r for r in records if r.key not in outcome]
        ids: dict[str, str] = {}

        def send() -> list[RecordResult]:
            response = self._post("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs}, tally)
            if response.status_code >= 400:
                return [RecordResult.rejected(r.key, _message(response), str(response.status_code)) for r in sent]
            answers, created = _by_trace(sent, response.json())
            ids.update(created)
            return answers

        if sent:
            outcome.update({answer.key: answer for answer in settle(sent, send)})
        accepted = {key for key, answer in outcome.items() if answer.status is RecordStatus.ACCEPTED}
        return outcome, {key: cid for key, cid in ids.items() if key in accepted}

    def _membership(self, action: str, records: Sequence[Record], list_id: str, ids: Mapping[str, str],
                    tally: WriteResult) -> list[RecordResult]:
        member_ids = sorted({ids[r.key] for r in records if r.key in ids})
        if member_ids:
            response = self._post("PUT", f"/crm/v3/lists/{list_id}/memberships/{action}", member_ids, tally)
            if response.status_code >= 400:
                return [RecordResult.rejected(r.key, _message(response), str(response.status_code)) for r in records]
        return [RecordResult.accepted(r.key, ids.get(r.key)) for r in records]

    def _remove(self, records: Sequence[Record], list_id: str, tally: WriteResult) -> list[RecordResult]:
        emails = sorted({str(r.get("email")).strip().lower() for r in records if r.get("email")})
        found: dict[str, str] = {}
        if emails:
            body = {"idProperty": "email", "inputs": [{"id": e} for e in emails], "properties": ["email"],
                    "propertiesWithHistory": []}
            response = self._post("POST", "/crm/v3/objects/contacts/batch/read", body, tally)
            if response.status_code >= 400:
                return [RecordResult.rejected(r.key, _message(response), str(response.status_code)) for r in records]
            found = {str(o["properties"]["email"]).lower(): str(o["id"]) for o in response.json().get("results", [])}
        ids = {r.key: found[e] for r in records if (e := str(r.get("email", "")).strip().lower()) in found}
        return self._membership("remove", records, list_id, ids, tally)

    # ------------------------------------------------------------ events

    def _events(self, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        outcome = {r.key: RecordResult.rejected(r.key, "record has no event_name or email")
                   for r in records if not (r.get("event_name") and r.get("email"))}
        sendable = [r for r in records if r.key not in outcome]

        def send(pending: Sequence[Record]) -> requests.Response:
            return self._post("POST", "/events/v3/send/batch", {"inputs": [_event(r) for r in pending]}, tally)

        def explain(response: requests.Response, size: int) -> tuple[dict[int, tuple[str, str | None]], str]:
            named = {}
            for detail in json_object(response).get("errors") or []:
                where = str(detail.get("in", ""))
                if where.startswith("inputs[") and where.endswith("]") and where[7:-1].isdigit():
                    named[int(where[7:-1])] = (str(detail.get("message")), detail.get("code"))
            return named, _message(response)

        accept = lambda pending, response: [RecordResult.accepted(r.key) for r in pending]  # noqa: E731
        if sendable:
            outcome.update({a.key: a for a in deliver_with_partial_rejects(sendable, send, accept, explain)})
        return [outcome[record.key] for record in records]

    # ------------------------------------------------------------ sales hand-off

    def _handoff(self, records: Sequence[Record], ids: Mapping[str, str], tally: WriteResult) -> list[RecordResult]:
        kind, association = _HANDOFF[self.handoff_object]
        inputs = []
        for record in records:
            text = str(record.get("text") or record.get("html") or "")
            properties = ({"hs_task_subject": str(record.get("subject") or "Follow up"), "hs_task_body": text,
                           "hs_task_status": "NOT_STARTED", "hs_task_type": "TODO", "hs_task_priority": "MEDIUM"}
                          if kind == "tasks" else {"hs_note_body": text})
            properties["hs_timestamp"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if self.owner_id:
                properties["hubspot_owner_id"] = self.owner_id
            inputs.append({"properties": properties, "objectWriteTraceId": record.key, "associations": [
                {"to": {"id": ids[record.key]},
                 "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": association}]}]})
        response = self._post("POST", f"/crm/v3/objects/{kind}/batch/create", {"inputs": inputs}, tally,
                              idempotent=False)
        if response.status_code >= 400:
            return [RecordResult.rejected(r.key, _message(response), str(response.status_code)) for r in records]
        return _by_trace(records, response.json())[0]


def _distinct_batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    emails: set[str] = set()
    for record in records:
        email = str(record.get("email", "")).strip().lower()
        if len(batch) >= size or (email and email in emails):
            yield batch
            batch, emails = [], set()
        batch.append(record)
        emails.add(email)
    if batch:
        yield batch


def _event(record: Record) -> dict[str, Any]:
    event = {"eventName": str(record.get("event_name")), "email": str(record.get("email")).strip(),
             "uuid": str(uuid.uuid5(_EVENT_NAMESPACE, record.key)), "properties": dict(record.get("properties", {}))}
    if record.get("occurred_at"):
        event["occurredAt"] = str(record.get("occurred_at"))
    return event


def _text(value: Any) -> str:
    """HubSpot property values are strings; booleans are ``true``/``false``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _message(response: requests.Response) -> str:
    return str(json_object(response).get("message") or f"HTTP {response.status_code}")


def _by_trace(records: Sequence[Record], body: Mapping[str, Any]) -> tuple[list[RecordResult], dict[str, str]]:
    """A CRM batch answer: results and errors both name the input by ``objectWriteTraceId``."""
    created = {str(o.get("objectWriteTraceId")): str(o["id"]) for o in body.get("results", [])}
    failed = {trace: _reason(error) for error in body.get("errors", [])
              for trace in (error.get("context") or {}).get("objectWriteTraceId", [])}
    return [RecordResult.rejected(r.key, *failed[r.key]) if r.key in failed
            else RecordResult.accepted(r.key, created.get(r.key)) for r in records], created


def _reason(error: Mapping[str, Any]) -> tuple[str, str | None]:
    details = [d for d in error.get("errors") or [] if isinstance(d, dict)]
    if details:
        return str(details[0].get("message")), details[0].get("code") or error.get("category")
    return str(error.get("message")), error.get("category")
