"""Local HubSpot: CRM v3 contacts, lists v3 memberships, custom events, tasks and notes.

Contract enforced (HubSpot's API docs; body shapes are the JSON Schemas in
schemas/hubspot_*.json, since HubSpot's OpenAPI documents are not licensed for reuse):
- ``Authorization: Bearer <private app token>``; otherwise 401
  ``{"status": "error", "category": "INVALID_AUTHENTICATION", ...}``.
- POST /crm/v3/objects/contacts/batch/upsert: at most 100 inputs keyed by
  ``idProperty: email``. Bad inputs (an invalid address, a property the portal does
  not have) do not fail the batch (a repeated id does: 400): 207 with ``errors[]`` naming each input by its
  ``objectWriteTraceId`` (and ``ids``) in ``context``; results echo the trace id.
- POST /crm/v3/objects/contacts/batch/read (idProperty email): 100 inputs; unknown
  ones are a 207 ``OBJECT_NOT_FOUND`` error.
- PUT /crm/v3/lists/{listId}/memberships/add | remove: an array of record ids;
  only MANUAL or SNAPSHOT lists (400 otherwise), unknown list 404.
- POST /events/v3/send/batch: at most 500 inputs, each with an identifier and a
  defined ``eventName``; a bad input fails the request (400 naming ``inputs[i]``);
  an occurrence with a ``uuid`` already seen is stored once. 204.
- POST /crm/v3/objects/tasks|notes/batch/create: at most 100, each associated with
  an existing contact. 201.
- Throttling: 429 ``{"status": "error", "errorType": "RATE_LIMIT", "policyName":
  "TEN_SECONDLY_ROLLING", ...}``, no Retry-After (HubSpot sends none) unless the
  fault gives one; private apps get 100 requests per 10 s (Free/Starter). Set
  ``throttle_policy = "DAILY"`` for the daily limit's 429.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

BATCH_LIMIT = 100
EVENTS_BATCH_LIMIT = 500
CONTACT_PROPERTIES = frozenset({"email", "firstname", "lastname", "phone", "company", "lifecyclestage", "city",
                                "country", "zip", "jobtitle", "website"})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MEMBERSHIPS = re.compile(r"^/crm/v3/lists/([^/]+)/memberships/(add|remove)$")
_ENGAGEMENTS = re.compile(r"^/crm/v3/objects/(tasks|notes)/batch/create$")
_ASSOCIATION_TYPES = {"tasks": 204, "notes": 202}  # HUBSPOT_DEFINED, to contacts


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, category: str, message: str, **extra: Any) -> Reply:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return Reply(status, body)


class HubSpotServer(VendorServer):
    vendor = "hubspot"
    default_rate_limits = (WindowLimit(100, 10.0),)

    def __init__(self, access_token: str = "pat-na1-0123456789abcdef", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.throttle_policy = "TEN_SECONDLY_ROLLING"
        self.custom_properties: set[str] = set()
        self.contacts: dict[str, dict[str, Any]] = {}  # by id
        self.lists: dict[str, dict[str, Any]] = {}  # id -> {"processingType", "members": set of ids}
        self.event_names: set[str] = {"pe1234567_journey_step"}
        self.events: dict[str, dict[str, Any]] = {}  # by uuid (or a fresh one)
        self.event_submissions: Counter[str] = Counter()
        self.engagements: dict[str, list[dict[str, Any]]] = {"tasks": [], "notes": []}
        self._next_id = 1000

    # ------------------------------------------------------------ test helpers

    def create_list(self, list_id: str | None = None, processing_type: str = "MANUAL") -> str:
        with self.lock:
            list_id = list_id or str(self._new_id())
            self.lists.setdefault(list_id, {"processingType": processing_type, "members": set()})
        return list_id

    def list_emails(self, list_id: str) -> set[str]:
        with self.lock:
            return {self.contacts[cid]["properties"]["email"] for cid in self.lists[list_id]["members"]}

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            return next((c for c in self.contacts.values() if c["properties"].get("email") == email.lower()), None)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        for name in ("hubspot_contacts_batch_upsert", "hubspot_contacts_batch_read", "hubspot_list_memberships",
                     "hubspot_events_send_batch", "hubspot_engagements_batch_create"):
            issues(name, {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "INVALID_AUTHENTICATION",
                          "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
                          "you can find more details at "
                          "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        policy = self.throttle_policy
        window = "daily" if policy == "DAILY" else policy.lower()
        reply = _error(429, "RATE_LIMITS", f"You have reached your {window} limit.", errorType="RATE_LIMIT",
                       policyName=policy, groupName="publicapi:private-app")
        reply.headers.update({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "100",
                              "X-HubSpot-RateLimit-Remaining": "0"})
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _error(status, "INTERNAL_ERROR", "internal error")

    def route(self, incoming: Incoming) -> Reply:
        path = incoming.path
        if incoming.method == "GET" and path == "/crm/v3/objects/contacts":
            return Reply(200, {"results": list(self.contacts.values())[:1]})
        if incoming.method == "POST" and path == "/crm/v3/objects/contacts/batch/upsert":
            return self._upsert(incoming)
        if incoming.method == "POST" and path == "/crm/v3/objects/contacts/batch/read":
            return self._read(incoming)
        if incoming.method == "PUT" and (match := _MEMBERSHIPS.match(path)):
            return self._memberships(match.group(1), match.group(2), incoming)
        if incoming.method == "POST" and path == "/events/v3/send/batch":
            return self._events(incoming)
        if incoming.method == "POST" and (match := _ENGAGEMENTS.match(path)):
            return self._engagements(match.group(1), incoming)
        return _error(404, "OBJECT_NOT_FOUND", "resource not found")

    def _invalid(self, name: str, body: Any, limit: int | None = None) -> Reply | None:
        inputs = body.get("inputs") if isinstance(body, dict) else body
        if limit is not None and isinstance(inputs, list) and len(inputs) > limit:
            return _error(400, "VALIDATION_ERROR", f"Batch input may not contain more than {limit} inputs")
        found = issues(name, body)
        if found:
            return _error(400, "VALIDATION_ERROR", f"Invalid input JSON: {found[0].pointer}: {found[0].message}")
        return None

    def _upsert(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("hubspot_contacts_batch_upsert", body, BATCH_LIMIT):
            return refusal
        seen = Counter(item["id"].strip().lower() for item in body["inputs"])
        if duplicates := sorted(email for email, count in seen.items() if count > 1):
            return _error(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}")
        results, errors = [], []
        with self.lock:
            for item in body["inputs"]:
                trace = item.get("objectWriteTraceId")
                context = {"ids": [item["id"]], **({"objectWriteTraceId": [trace]} if trace else {})}
                problem = self._contact_problem(item)
                if problem:
                    code, message = problem
                    errors.append({"status": "error", "category": "VALIDATION_ERROR", "context": context,
                                   "message": f"Property values were not valid: {message}",
                                   "errors": [{"message": message, "code": code}], "links": {}})
                    continue
                email = item["id"].strip().lower()
                existing = next((c for c in self.contacts.values() if c["properties"]["email"] == email), None)
                contact = existing or {"id": str(self._new_id()), "properties": {}, "createdAt": _now()}
                contact["properties"].update({**item["properties"], "email": email})
                contact["updatedAt"] = _now()
                self.contacts[contact["id"]] = contact
                results.append({"id": contact["id"], "properties": dict(contact["properties"]), "new": existing is None,
                                "createdAt": contact["createdAt"], "updatedAt": contact["updatedAt"], "archived": False,
                                **({"objectWriteTraceId": trace} if trace else {})})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": _now(), "completedAt": _now()}
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
        return Reply(207 if errors else 200, answer)

    def _contact_problem(self, item: dict[str, Any]) -> tuple[str, str] | None:
        if item.get("idProperty") != "email":
            return "INVALID_ID_PROPERTY", "idProperty must be a unique property such as email"
        if not _EMAIL.match(item["id"].strip()):
            return "INVALID_EMAIL", f"Email address {item['id']} is invalid"
        for name in item["properties"]:
            if name not in CONTACT_PROPERTIES and name not in self.custom_properties:
                return "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
        return None

    def _read(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("hubspot_contacts_batch_read", body, BATCH_LIMIT):
            return refusal
        results, missing = [], []
        for item in body["inputs"]:
            contact = self.contact_by_email(item["id"])
            if contact is None:
                missing.append(item["id"])
            else:
                results.append({"id": contact["id"], "properties": {"email": contact["properties"]["email"]}})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            answer.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                                "message": "Could not get some CONTACT objects, they may be deleted or "
                                                           "not exist.", "context": {"ids": missing}}])
        return Reply(207 if missing else 200, answer)

    def _memberships(self, list_id: str, action: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("hubspot_list_memberships", body):
            return refusal
        with self.lock:
            hubspot_list = self.lists.get(list_id)
            if hubspot_list is None:
                return _error(404, "OBJECT_NOT_FOUND", f"List with id {list_id} does not exist.")
            if hubspot_list["processingType"] not in ("MANUAL", "SNAPSHOT"):
                return _error(400, "VALIDATION_ERROR", f"List {list_id} is not a MANUAL or SNAPSHOT list.")
            known = [rid for rid in body if rid in self.contacts]
            members = hubspot_list["members"]
            changed = [rid for rid in known if (rid not in members) == (action == "add")]
            (members.update if action == "add" else members.difference_update)(changed)
        answer = {"recordsIdsAdded": changed if action == "add" else [],
                  "recordIdsRemoved": changed if action == "remove" else [],
                  "recordIdsMissing": [rid for rid in body if rid not in self.contacts]}
        return Reply(200, answer)

    def _events(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("hubspot_events_send_batch", body, EVENTS_BATCH_LIMIT):
            return refusal
        details = []
        for index, item in enumerate(body["inputs"]):
            if item["eventName"] not in self.event_names:
                details.append({"message": f"Event definition {item['eventName']} not found", "in": f"inputs[{index}]",
                                "code": "EVENT_DEFINITION_NOT_FOUND"})
            elif not (item.get("email") or item.get("objectId") or item.get("utk")):
                details.append({"message": "One of email, objectId or utk is required", "in": f"inputs[{index}]",
                                "code": "MISSING_IDENTIFIER"})
            elif item.get("email") and not _EMAIL.match(item["email"]):
                details.append({"message": f"Email address {item['email']} is invalid", "in": f"inputs[{index}]",
                                "code": "INVALID_EMAIL"})
        if details:
            return _error(400, "VALIDATION_ERROR", "Some events were not valid", errors=details)
        with self.lock:
            for item in body["inputs"]:
                key = item.get("uuid") or str(uuid.uuid4())
                self.event_submissions[key] += 1
                self.events.setdefault(key, item)
        return Reply(204)

    def _engagements(self, kind: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("hubspot_engagements_batch_create", body, BATCH_LIMIT):
            return refusal
        results, errors = [], []
        with self.lock:
            for item in body["inputs"]:
                trace = item.get("objectWriteTraceId")
                targets = [a["to"]["id"] for a in item["associations"]
                           if any(t["associationTypeId"] == _ASSOCIATION_TYPES[kind] for t in a["types"])]
                if not targets or any(target not in self.contacts for target in targets):
                    errors.append({"status": "error", "category": "VALIDATION_ERROR",
                                   "message": "One or more associations are invalid: no contact with that id",
                                   "context": {"objectWriteTraceId": [trace]} if trace else {}, "errors": []})
                    continue
                record = {"id": str(self._new_id()), "properties": item["properties"], "contacts": targets,
                          "createdAt": _now(), "objectWriteTraceId": trace}
                self.engagements[kind].append(record)
                results.append({"id": record["id"], "properties": item["properties"], "createdAt": record["createdAt"],
                                "updatedAt": record["createdAt"], "archived": False,
                                **({"objectWriteTraceId": trace} if trace else {})})
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
        return Reply(207 if errors else 201, answer)
