"""Mailchimp Marketing API 3.0: audience members, merge fields, tags and static segments, events.

Environment (prefix THROUGHLINE_MAILCHIMP by default):
  API_KEY          secret API key (HTTP Basic password, any user); its suffix names the
                   data center: ``...-us21`` -> https://us21.api.mailchimp.com
  BASE_URL         overrides the data center's URL (the local server)
  LIST_ID          the audience for upsert_profiles and track_events without a target
  STATUS           status for members whose record has no ``status`` (none by default: a
                   subscription status comes from the customer's consent, never from a default)
  MAX_CONCURRENCY  per-member requests in flight (events, tags), default 8: Mailchimp allows
                   10 simultaneous connections per key
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Targets: ``LIST_ID`` (the audience itself), ``LIST_ID/segments/SEGMENT_ID`` (a static
segment, tags included) or ``LIST_ID/tags/TAG NAME``.

Operations:
  upsert_profiles          POST /3.0/lists/{list} batch subscribe, 500 per call, update_existing:
                           email, status (required: subscribed, unsubscribed, cleaned, pending or
                           transactional), first_name/last_name/phone (FNAME, LNAME, PHONE) and
                           properties whose upper-cased name is one of the audience's merge
                           fields (read once per audience; others are not sent), tags. Mailchimp
                           applies the status to existing members too. Members in ``errors[]``
                           are REJECTED with Mailchimp's ``error`` and ``error_code``.
  add_audience_members     new members batch-subscribed without update_existing (an existing
                           member keeps the status Mailchimp has: an audience sync never re-subscribes
                           anyone), then the segment's ``members_to_add`` (one call) or each
                           member's tag set active (POST .../members/{hash}/tags)
  remove_audience_members  ``members_to_remove``, the tag set inactive, or (audience target)
                           the batch with status unsubscribed
  track_events             POST .../members/{hash}/events per record: email, event_name (2-30
                           letters, digits, _ or -), occurred_at, properties (sent as strings).
                           Mailchimp does not deduplicate events: a lost answer is UNKNOWN.
subscriber_hash is the MD5 of the lower-cased address, as Mailchimp defines it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from connectors.base import (Capabilities, CheckResult, ConfigurationError, Destination, Operation, OperationLimits,
                             Record, RecordResult, RecordStatus, WriteResult)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, map_bounded, json_object, probe, settle
from connectors.registry import register

_BATCH = OperationLimits(max_records=500)
_FIELDS = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
_DATA_CENTER = re.compile(r"^[a-z]+[0-9]+$")
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
_NO_STATUS = ("record has no status: give it one from the customer's email consent (subscribed, unsubscribed or "
              "pending for double opt-in), or set THROUGHLINE_MAILCHIMP_STATUS")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()  # noqa: S324 - an id, not security


@register
class MailchimpDestination(Destination):
    name = "mailchimp"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: _BATCH,
            Operation.ADD_AUDIENCE_MEMBERS: _BATCH,
            Operation.REMOVE_AUDIENCE_MEMBERS: _BATCH,
            Operation.TRACK_EVENTS: OperationLimits(max_records=500, idempotent=False),
        },
        max_concurrency=8,
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(self, api_key: str, *, base_url: str | None = None, list_id: str | None = None,
                 status: str | None = None, http: HttpSettings | None = None) -> None:
        data_center = api_key.rpartition("-")[2]
        if base_url is None and not _DATA_CENTER.match(data_center):
            raise ConfigurationError("mailchimp: the API key has no data center suffix (like -us21); set BASE_URL")
        settings = http or HttpSettings()
        if status is not None and status not in STATUSES:
            raise ConfigurationError(f"mailchimp: STATUS {status!r} is not one of {', '.join(STATUSES)}")
        self.list_id, self.status = list_id, status
        self.concurrency = min(settings.max_concurrency or self.capabilities.max_concurrency, 10)
        self.client = VendorHttpClient("mailchimp", base_url or f"https://{data_center}.api.mailchimp.com", settings,
                                       auth=("throughline", api_key), pool_size=self.concurrency)
        self._merge_fields: dict[str, frozenset[str]] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> MailchimpDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(reader.secret("API_KEY").reveal(), base_url=reader.text("BASE_URL"), list_id=reader.text("LIST_ID"),
                   status=reader.text("STATUS"), http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/3.0/ping")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"mailchimp answered HTTP {response.status_code} to a ping")
        return CheckResult(True, "mailchimp API key accepted")

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        list_id, kind, name = _target(target or self.list_id)
        if operation is Operation.TRACK_EVENTS:
            return map_bounded(lambda r: self._event(list_id, r, result), records, self.concurrency)
        if operation is Operation.REMOVE_AUDIENCE_MEMBERS and kind == "segments":
            return settle(records, lambda: self._segment(list_id, name, "members_to_remove", records, result))
        if operation is Operation.REMOVE_AUDIENCE_MEMBERS and kind == "tags":
            return map_bounded(lambda r: self._tag(list_id, name, "inactive", r, result), records, self.concurrency)
        mode = ("unsubscribe" if operation is Operation.REMOVE_AUDIENCE_MEMBERS
                else "ensure" if operation is Operation.ADD_AUDIENCE_MEMBERS and kind else "upsert")
        subscribed = settle(records, lambda: self._subscribe(list_id, records, mode, result))
        if operation is not Operation.ADD_AUDIENCE_MEMBERS or not kind:
            return subscribed  # the batch subscribe was the whole operation
        outcome = {a.key: a for a in subscribed}
        ready = [r for r in records if outcome[r.key].status is RecordStatus.ACCEPTED]
        if operation is Operation.ADD_AUDIENCE_MEMBERS and ready and kind == "segments":
            outcome.update({a.key: a for a in settle(
                ready, lambda: self._segment(list_id, name, "members_to_add", ready, result))})
        elif operation is Operation.ADD_AUDIENCE_MEMBERS and ready and kind == "tags":
            tagged = map_bounded(lambda r: self._tag(list_id, name, "active", r, result), ready, self.concurrency)
            outcome.update({a.key: a for a in tagged})
        return [outcome[record.key] for record in records]

    # ------------------------------------------------------------ members

    def _fields(self, list_id: str, tally: WriteResult) -> frozenset[str]:
        if list_id not in self._merge_fields:
            response = self.client.request("GET", f"/3.0/lists/{list_id}/merge-fields",
                                           params={"count": 1000, "fields": "merge_fields.tag"}, tally=tally)
            tags = [f.get("tag") for f in json_object(response).get("merge_fields", [])] if response.status_code < 400 else []
            self._merge_fields[list_id] = frozenset(str(t) for t in tags if t)
        return self._merge_fields[list_id]

    def _status(self, record: Record, mode: str) -> str | None:
        return "unsubscribed" if mode == "unsubscribe" else str(record.get("status", self.status or "")) or None

    @staticmethod
    def _member(record: Record, fields: frozenset[str], named: list[tuple[str, str]], status: str) -> dict[str, Any]:
        """``named``: the (field, merge tag) pairs of ``_FIELDS`` whose tag the audience has."""
        values = record.fields  # once per record of every sync: plain dict reads
        properties = values.get("properties")
        merge = {k.upper(): v for k, v in dict(properties).items() if k.upper() in fields} if properties else {}
        for name, tag in named:
            if value := values.get(name):
                merge[tag] = value if type(value) is str else str(value)
        member: dict[str, Any] = {"email_address": str(values.get("email")).strip(), "status": status}
        if merge:
            member["merge_fields"] = merge
        tags = values.get("tags")
        if tags:
            member["tags"] = [t.strip() for t in tags.split(",")] if isinstance(tags, str) else [str(t) for t in tags]
        return member

    def _subscribe(self, list_id: str, records: Sequence[Record], mode: str, tally: WriteResult) -> list[RecordResult]:
        """``mode``: upsert (the record's status applies to existing members too), ensure (members
        exist afterwards; existing ones keep their status) or unsubscribe."""
        outcome: dict[int, RecordResult] = {}
        sent: list[tuple[int, Record, str]] = []
        for index, record in enumerate(records):
            status = self._status(record, mode)
            if not record.fields.get("email"):
                outcome[index] = RecordResult.rejected(record.key, "record has no email")
            elif status not in STATUSES:
                outcome[index] = RecordResult.rejected(record.key, _NO_STATUS if status is None else
                                                       f"the status is not a Mailchimp status ({', '.join(STATUSES)})")
            else:
                sent.append((index, record, status))
        if sent:
            fields = frozenset() if mode == "unsubscribe" else self._fields(list_id, tally)
            named = [(name, tag) for name, tag in _FIELDS.items() if tag in fields]
            members = [self._member(record, fields, named, status) for _, record, status in sent]
            response = self.client.request("POST", f"/3.0/lists/{list_id}",
                                           json={"members": members, "update_existing": mode != "ensure"}, tally=tally)
            if response.status_code >= 400:
                reason, code = _detail(response), str(response.status_code)
                return [outcome.get(i) or RecordResult.rejected(r.key, reason, code) for i, r in enumerate(records)]
            answer = json_object(response)
            done = {str(m.get("email_address", "")).lower(): m.get("id") for m in
                    answer.get("new_members", []) + answer.get("updated_members", [])}
            failed = {str(e.get("email_address", "")).lower(): e for e in answer.get("errors", [])}
            accepted = RecordStatus.ACCEPTED
            for (index, record, _), member in zip(sent, members, strict=True):
                email = member["email_address"].lower()
                if email in failed and mode == "ensure" and failed[email].get("error_code") == "ERROR_CONTACT_EXISTS":
                    outcome[index] = RecordResult.accepted(record.key, subscriber_hash(email))
                elif email in failed:
                    error = failed[email]
                    outcome[index] = RecordResult.rejected(record.key, str(error.get("error")), error.get("error_code"))
                elif email in done:
                    outcome[index] = RecordResult(record.key, accepted, None, None, done[email])
                else:
                    outcome[index] = RecordResult.retryable(record.key, "not in Mailchimp's batch answer")
        return [outcome[index] for index in range(len(records))]

    def _segment(self, list_id: str, segment_id: str, action: str, records: Sequence[Record],
                 tally: WriteResult) -> list[RecordResult]:
        emails = [str(r.get("email", "")).strip() for r in records]
        body = {action: sorted({e for e in emails if e})}
        response = self.client.request("POST", f"/3.0/lists/{list_id}/segments/{segment_id}", json=body, tally=tally)
        if response.status_code >= 400:
            return [RecordResult.rejected(r.key, _detail(response), str(response.status_code)) for r in records]
        refused = {str(e).lower(): str(error.get("error")) for error in json_object(response).get("errors", [])
                   for e in error.get("email_addresses", [])}
        removing = action == "members_to_remove"  # not a list member: not in the segment either
        return [RecordResult.rejected(r.key, "record has no email") if not email
                else RecordResult.rejected(r.key, refused[email.lower()]) if email.lower() in refused and not removing
                else RecordResult.accepted(r.key, subscriber_hash(email))
                for r, email in zip(records, emails, strict=True)]

    def _tag(self, list_id: str, tag: str, status: str, record: Record, tally: WriteResult) -> RecordResult:
        return self._per_member(list_id, "tags", {"tags": [{"name": tag, "status": status}], "is_syncing": True},
                                record, tally, missing_ok=status == "inactive")

    def _event(self, list_id: str, record: Record, tally: WriteResult) -> RecordResult:
        if not record.get("event_name"):
            return RecordResult.rejected(record.key, "record has no event_name")
        body: dict[str, Any] = {"name": str(record.get("event_name")), "is_syncing": False,
                                "properties": {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                                               for k, v in dict(record.get("properties", {})).items()}}
        if record.get("occurred_at"):
            body["occurred_at"] = str(record.get("occurred_at"))
        return self._per_member(list_id, "events", body, record, tally, idempotent=False)

    def _per_member(self, list_id: str, action: str, body: dict[str, Any], record: Record, tally: WriteResult, *,
                    missing_ok: bool = False, idempotent: bool = True) -> RecordResult:
        if not record.get("email"):
            return RecordResult.rejected(record.key, "record has no email")
        key = subscriber_hash(str(record.get("email")))

        def send() -> list[RecordResult]:
            response = self.client.request("POST", f"/3.0/lists/{list_id}/members/{key}/{action}", json=body,
                                           idempotent=idempotent, tally=tally)
            if response.status_code >= 400 and not (missing_ok and response.status_code == 404):
                return [RecordResult.rejected(record.key, _detail(response), str(response.status_code))]
            return [RecordResult.accepted(record.key, key)]

        return settle([record], send)[0]


def _target(target: str | None) -> tuple[str, str | None, str]:
    if not target:
        raise ConfigurationError("mailchimp: set THROUGHLINE_MAILCHIMP_LIST_ID or give a target audience")
    list_id, _, rest = target.partition("/")
    kind, _, name = rest.partition("/")
    if rest and (kind not in ("segments", "tags") or not name):
        raise ConfigurationError("mailchimp: a target is LIST_ID, LIST_ID/segments/SEGMENT_ID or LIST_ID/tags/TAG")
    return list_id, kind or None, name


def _detail(response: requests.Response) -> str:
    body = json_object(response)
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [] if isinstance(e, dict))
    return " ".join(p for p in (str(body.get("detail") or body.get("title") or ""), fields) if p) or \
        f"HTTP {response.status_code}"
