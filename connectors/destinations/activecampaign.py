"""ActiveCampaign (API v3): contacts by bulk import, list and tag membership, tracked events.

Environment (prefix THROUGHLINE_ACTIVECAMPAIGN by default):
  API_TOKEN     secret, sent as the ``Api-Token`` header
  BASE_URL      https://<account>.api-us1.com (required)
  ACCOUNT_ID    event tracking ``actid`` (Settings > Tracking); needed by track_events
  EVENT_KEY     secret event tracking ``key``; needed by track_events
  EVENTS_URL    default https://trackcmp.net/event
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations:
  upsert_profiles          POST /api/3/import/bulk_import, 250 contacts a call: email, first_name, last_name,
                           phone, properties as custom ``fields`` ({"id": <field id>, "value"}: property
                           names are field ids) and ``tags``. A 400 names refused contacts by index in
                           ``failureReasons``: REJECTED with ActiveCampaign's words, the rest sent again. The
                           import is asynchronous: the answer's ``batchId`` is each record's vendor id, and
                           GET /api/3/import/info?batchId= (``import_status``) reports what failed later.
  add_audience_members     target ``<list id>`` / ``list:<id>``: POST /api/3/contact/sync (the contact id),
  remove_audience_members  then POST /api/3/contactLists status 1 (subscribe) or 2 (unsubscribe);
                           target ``tag:<id>``: POST /api/3/contactTags, or DELETE /api/3/contactTags/{id}
                           found under GET /api/3/contacts/{id}/contactTags. One contact at a time.
  track_events             POST EVENTS_URL (form): actid, key, event, eventdata, visit={"email": ...}.
                           Not idempotent: a lost answer is UNKNOWN, never resent.
Published limits: 5 requests per second per account, 429 past it; one bucket for every call. The
Bulk Contact Importer also takes at most 100 imports a minute (20 of a single contact) and a body of
at most 399,999 bytes: imports are paced by their own bucket and halved until they fit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import requests

from connectors.base import (AuthenticationError, Capabilities, CheckResult, ConfigurationError, Destination,
                             Operation, OperationLimits, RateLimit, Record, RecordResult, RecordStatus, WriteResult,
                             chunked)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, deliver_with_partial_rejects, json_object, probe, settle
from connectors.registry import register

ACCOUNT_RATE = RateLimit(5, 1)  # published
# The shared limiter sends its first two calls back to back: at exactly 5/s a strict 1 s window sees 6.
_PACE = RateLimit(5, 1.3)
BULK_IMPORT_LIMIT = 250
BULK_IMPORT_BYTES = 399_999  # the importer's largest body
# The importer's own limits, beside the account's: 100 imports a minute, 20 when one contact.
BULK_IMPORT_RATE, SINGLE_IMPORT_RATE = RateLimit(100, 60), RateLimit(20, 60)
EVENTS_URL = "https://trackcmp.net/event"
_NAMES = {"first_name": "first_name", "last_name": "last_name", "phone": "phone"}


class Contacts(list):  # type: ignore[type-arg]
    """One bulk import's records and the contacts of those that have an email, in order."""

    def __init__(self, records: Sequence[Record]) -> None:
        super().__init__(records)
        self.contacts = [_contact(record) for record in records if record.fields.get("email")]
        self.body: bytes | None = None  # the encoded import, set by _within_bytes


def _within_bytes(batch: Contacts) -> Iterator[Contacts]:
    """The batch, halved until each import's body fits the importer's byte limit. The body
    is encoded here, once, and sent as it is (contacts are small: a split is rare)."""
    batch.body = orjson.dumps({"contacts": batch.contacts}, option=orjson.OPT_NON_STR_KEYS)
    if len(batch) > 1 and len(batch.body) > BULK_IMPORT_BYTES:
        half = len(batch) // 2
        yield from _within_bytes(Contacts(batch[:half]))
        yield from _within_bytes(Contacts(batch[half:]))
    else:
        yield batch


@register
class ActiveCampaignDestination(Destination):
    name = "activecampaign"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: OperationLimits(max_records=BULK_IMPORT_LIMIT, max_bytes=BULK_IMPORT_BYTES,
                                                      rate=ACCOUNT_RATE),
            Operation.ADD_AUDIENCE_MEMBERS: OperationLimits(max_records=50, rate=ACCOUNT_RATE),
            Operation.REMOVE_AUDIENCE_MEMBERS: OperationLimits(max_records=50, rate=ACCOUNT_RATE),
            Operation.TRACK_EVENTS: OperationLimits(max_records=50, rate=ACCOUNT_RATE, idempotent=False),
        },
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(self, api_token: str, base_url: str, *, account_id: str | None = None, event_key: str | None = None,
                 events_url: str = EVENTS_URL, http: HttpSettings | None = None) -> None:
        if not base_url.startswith("http"):
            raise ConfigurationError("activecampaign: BASE_URL must be https://<account>.api-us1.com")
        self.account_id, self.event_key, self.events_url = account_id, event_key, events_url
        self.client = VendorHttpClient("activecampaign", base_url, http or HttpSettings(),
                                       headers={"Api-Token": api_token})
        self.limiter = self.client.limiter("account", _PACE)
        self.import_limiters = {False: self.client.limiter("bulk-import", BULK_IMPORT_RATE),
                                True: self.client.limiter("single-import", SINGLE_IMPORT_RATE)}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> ActiveCampaignDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        key = reader.secret("EVENT_KEY").reveal() if reader.text("EVENT_KEY") else None
        return cls(reader.secret("API_TOKEN").reveal(), reader.required("BASE_URL"),
                   account_id=reader.text("ACCOUNT_ID"), event_key=key,
                   events_url=reader.text("EVENTS_URL", EVENTS_URL) or EVENTS_URL, http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/api/3/users/me", limiter=self.limiter)
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"activecampaign answered HTTP {response.status_code} to users/me")
        return CheckResult(True, "activecampaign API token accepted")

    def _call(self, method: str, path: str, tally: WriteResult | None, **kwargs: Any) -> requests.Response:
        return self.client.request(method, path, limiter=self.limiter, tally=tally, **kwargs)

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        if operation is Operation.UPSERT_PROFILES:
            return self._import(records, result)
        if operation is Operation.TRACK_EVENTS:
            return [self._event(record, result) for record in records]
        kind, _, ident = str(target).rpartition(":")
        if kind not in ("", "list", "tag") or not ident.isdigit():
            raise ConfigurationError("activecampaign: target must be a list id, list:<id> or tag:<id>")
        add = operation is Operation.ADD_AUDIENCE_MEMBERS
        return [settle([record], lambda record=record: [self._member(record, kind or "list", ident, add, result)])[0]
                for record in records]

    # ------------------------------------------------------------ contacts

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        if operation is not Operation.UPSERT_PROFILES:
            return super().batches(operation, records)
        # built here, so the next import's contacts are ready while the previous import is on the wire
        return (part for chunk in chunked(records, BULK_IMPORT_LIMIT) for part in _within_bytes(Contacts(chunk)))

    def _import(self, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        batch = records if isinstance(records, Contacts) else Contacts(records)
        outcome = {r.key: RecordResult.rejected(r.key, "record has no email")
                   for r in records if not r.fields.get("email")}
        sendable = [r for r in records if r.key not in outcome] if outcome else records

        def send(pending: Sequence[Record]) -> requests.Response:
            first = len(pending) == len(batch.contacts)  # later rounds send fewer: the named rejects are out
            self.import_limiters[len(pending) == 1].acquire()
            if first and batch.body is not None:
                return self._call("POST", "/api/3/import/bulk_import", tally, data=batch.body,
                                  headers={"Content-Type": "application/json"})
            return self._call("POST", "/api/3/import/bulk_import", tally,
                              json={"contacts": batch.contacts if first else [_contact(r) for r in pending]})

        def accept(pending: Sequence[Record], response: requests.Response) -> list[RecordResult]:
            batch_id = str(json_object(response).get("batchId") or "") or None
            return RecordResult.for_keys([r.key for r in pending], RecordStatus.ACCEPTED, vendor_id=batch_id)

        def explain(response: requests.Response, size: int) -> tuple[dict[int, tuple[str, str | None]], str]:
            body = json_object(response)
            named: dict[int, tuple[str, str | None]] = {}
            for failure in body.get("failureReasons") or []:
                if isinstance(failure, dict) and isinstance(failure.get("contact"), int):
                    reasons = failure.get("failureReasons") or ["refused"]
                    named[failure["contact"]] = ("; ".join(map(str, reasons)), "failureReasons")
            return named, str(body.get("message") or f"HTTP {response.status_code}")

        if not sendable:
            return [outcome[record.key] for record in records]
        delivered = deliver_with_partial_rejects(sendable, send, accept, explain)
        if not outcome:
            return delivered
        outcome.update({a.key: a for a in delivered})
        return [outcome[record.key] for record in records]

    def import_status(self, batch_id: str) -> dict[str, Any]:
        """The asynchronous import's outcome: ``status`` and the ``success``/``failure`` contact lists."""
        return json_object(self._call("GET", "/api/3/import/info", None, params={"batchId": batch_id}))

    def _member(self, record: Record, kind: str, ident: str, add: bool, tally: WriteResult) -> RecordResult:
        if not record.get("email"):
            return RecordResult.rejected(record.key, "record has no email")
        synced = self._call("POST", "/api/3/contact/sync", tally, json={"contact": _contact_sync(record)})
        if synced.status_code >= 400:
            return _refused(record, synced)
        contact = str(json_object(synced).get("contact", {}).get("id"))
        if kind == "list":
            body = {"contactList": {"list": int(ident), "contact": int(contact), "status": 1 if add else 2}}
            response = self._call("POST", "/api/3/contactLists", tally, json=body)
        elif add:
            response = self._call("POST", "/api/3/contactTags", tally, json={"contactTag": {"contact": contact,
                                                                                            "tag": ident}})
        else:
            found = self._call("GET", f"/api/3/contacts/{contact}/contactTags", tally)
            links = [t["id"] for t in json_object(found).get("contactTags", []) if str(t.get("tag")) == ident]
            for link in links:
                response = self._call("DELETE", f"/api/3/contactTags/{link}", tally)
                if response.status_code >= 400 and response.status_code != 404:
                    return _refused(record, response)
            return RecordResult.accepted(record.key, contact)
        return _refused(record, response) if response.status_code >= 400 else RecordResult.accepted(record.key,
                                                                                                     contact)

    # ------------------------------------------------------------ events

    def _event(self, record: Record, tally: WriteResult) -> RecordResult:
        if not (self.account_id and self.event_key):
            raise ConfigurationError("activecampaign: track_events needs ACCOUNT_ID and EVENT_KEY")
        if not (record.get("event_name") and record.get("email")):
            return RecordResult.rejected(record.key, "record has no event_name or email")
        data = record.get("properties") or record.get("value")
        form = {"actid": self.account_id, "key": self.event_key, "event": str(record.get("event_name")),
                "visit": json.dumps({"email": str(record.get("email")).strip()})}
        if data:
            form["eventdata"] = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))

        def send() -> list[RecordResult]:
            response = self._call("POST", self.events_url, tally, data=form, idempotent=False)
            body = json_object(response)
            if response.status_code < 400 and body.get("success") == 1:
                return [RecordResult.accepted(record.key)]
            message = str(body.get("message") or f"HTTP {response.status_code}")
            if "key" in message.lower() and "invalid" in message.lower():
                raise AuthenticationError("activecampaign rejected the event tracking key; check ACCOUNT_ID and "
                                          "EVENT_KEY")
            return [RecordResult.rejected(record.key, message, str(response.status_code))]

        return settle([record], send)[0]


def _contact_sync(record: Record) -> dict[str, Any]:
    fields = record.fields
    contact = {"email": str(fields["email"]).strip()}
    for name in _NAMES:
        if value := fields.get(name):
            contact[name] = str(value)
    return contact


def _contact(record: Record) -> dict[str, Any]:
    """One bulk import contact. Runs once per record of every sync: plain dict reads, no helpers."""
    contact: dict[str, Any] = _contact_sync(record)
    fields = record.fields
    if properties := fields.get("properties"):
        contact["fields"] = [{"id": int(k) if str(k).isdigit() else k, "value": _text(v)}
                             for k, v in dict(properties).items() if v is not None]
    if tags := fields.get("tags"):
        contact["tags"] = [str(tag) for tag in tags]
    return contact


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _refused(record: Record, response: requests.Response) -> RecordResult:
    body = json_object(response)
    errors = body.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    reason = str(first.get("title") or body.get("message") or f"HTTP {response.status_code}")
    return RecordResult.rejected(record.key, reason, str(first.get("code") or response.status_code))
