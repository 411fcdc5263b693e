"""Local ActiveCampaign API v3 and Event Tracking endpoint.

Contract enforced (ActiveCampaign's developer reference; no spec is published under a licence allowing
a copy: the bulk import body is checked against schemas/activecampaign_bulk_import.json, the rest here):
- ``Api-Token`` header; otherwise 403 ``{"message": "No Result found for ..."}``-style refusal.
- POST /api/3/import/bulk_import: ``contacts`` of at most 250, each with an ``email``; a contact
  with an invalid address or unknown field id makes the whole request 400 with
  ``failureReasons: [{"contact": <index>, "failureReasons": [...]}]``; otherwise 200
  ``{"success": 1, "queued_contacts": n, "batchId": ...}``: the import runs asynchronously and
  GET /api/3/import/info?batchId= reports ``status``, ``success`` and ``failure``.
- POST /api/3/contact/sync (create or update by email), POST /api/3/contactLists (status 1
  subscribe, 2 unsubscribe; 404 for an unknown list), POST /api/3/contactTags (404 unknown tag),
  GET /api/3/contacts/{id}/contactTags, DELETE /api/3/contactTags/{id}, GET /api/3/users/me.
- POST /event (trackcmp.net): form actid, key, event, eventdata, visit; ``{"success": 0, "message":
  ...}`` for a bad key or a missing field, ``{"success": 1, "message": "Event spawned"}`` otherwise.
- 5 requests per second per account; 429 past it (no Retry-After unless a fault gives one).
- The Bulk Contact Importer's own limits (developers.activecampaign.com/reference/bulk-import-contacts):
  20 requests a minute for one contact, 100 a minute for several (429 past either), and a body of
  at most 399,999 bytes (the reference gives no answer's shape for a larger one: here 413).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import deque
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

BULK_LIMIT = 250
BULK_MAX_BYTES = 399_999
# (requests, seconds) for imports of one contact and of several
BULK_WINDOWS = {True: WindowLimit(20, 60.0), False: WindowLimit(100, 60.0)}
DEMO_LIST = "1"
DEMO_TAG = "1"
DEMO_FIELD = "1"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_CONTACT_TAGS = re.compile(r"^/api/3/contacts/(\d+)/contactTags$")
_CONTACT_TAG = re.compile(r"^/api/3/contactTags/(\d+)$")


class ActiveCampaignServer(VendorServer):
    vendor = "activecampaign"
    default_rate_limits = (WindowLimit(5, 1.0),)

    def __init__(self, api_token: str = "ac-local-api-token", account_id: str = "223344",
                 event_key: str = "ac-local-event-key", bulk_windows: dict[bool, WindowLimit] | None = None,
                 **options: Any) -> None:
        super().__init__(**options)
        self.api_token, self.account_id, self.event_key = api_token, account_id, event_key
        self.send_retry_after = False
        self.contacts: dict[str, dict[str, Any]] = {}  # lower-cased email -> contact
        self.lists: dict[str, dict[str, int]] = {DEMO_LIST: {}}  # list id -> {contact id: status}
        self.tags: dict[str, str] = {DEMO_TAG: "sales-ready"}
        self.fields: set[str] = {DEMO_FIELD, "2"}
        self.contact_tags: dict[str, tuple[str, str]] = {}  # id -> (contact id, tag id)
        self.imports: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        # the importer's windows follow the account limit: a server started with rate_limits=() has neither
        self.bulk_windows = bulk_windows if bulk_windows is not None else (
            BULK_WINDOWS if options.get("rate_limits") is None else {})
        self._bulk_stamps: dict[bool, deque[float]] = {single: deque() for single in self.bulk_windows}
        self.bulk_body_sizes: list[int] = []

    def contact(self, email: str) -> dict[str, Any] | None:
        return self.contacts.get(email.lower())

    def tagged(self, tag: str) -> set[str]:
        ids = {contact for contact, t in self.contact_tags.values() if t == tag}
        return {c["email"] for c in self.contacts.values() if c["id"] in ids}

    def _upsert(self, item: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            contact = self.contacts.setdefault(str(item["email"]).lower(),
                                               {"id": str(next(self._ids)), "email": item["email"], "fields": {}})
            contact.update({k: v for k, v in item.items() if k in ("first_name", "last_name", "phone", "firstName",
                                                                       "lastName")})
            for value in item.get("fields") or []:
                contact["fields"][str(value["id"])] = value["value"]
            return contact

    # ------------------------------------------------------------ contract

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.path == "/event":
            return None  # the form's key is checked by the event endpoint itself
        if incoming.headers.get("Api-Token") != self.api_token:
            return Reply(403, {"message": "No Result found for Subscriber with id 0"})
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        return Reply(429, {"message": "Too Many Requests"}, headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"message": "Internal Server Error"})

    def route(self, incoming: Incoming) -> Reply:
        method, path = incoming.method, incoming.path
        if (method, path) == ("POST", "/event"):
            return self._event(incoming)
        if (method, path) == ("GET", "/api/3/users/me"):
            return Reply(200, {"user": {"id": "1", "username": "admin"}})
        if (method, path) == ("POST", "/api/3/import/bulk_import"):
            self.bulk_body_sizes.append(len(incoming.body))
            if len(incoming.body) > BULK_MAX_BYTES:
                return Reply(413, {"success": 0, "message": f"Request payload exceeds {BULK_MAX_BYTES:,} bytes"})
            body = incoming.json() or {}
            if refusal := self._bulk_throttle(len(body.get("contacts") or []) == 1):
                return refusal
            return self._bulk(body)
        if (method, path) == ("GET", "/api/3/import/info"):
            found = self.imports.get(incoming.param("batchId") or "")
            return Reply(200, found) if found else Reply(404, {"message": "No Result found for Import"})
        body = incoming.json() if incoming.body else {}
        if (method, path) == ("POST", "/api/3/contact/sync"):
            item = (body or {}).get("contact") or {}
            if not _EMAIL.match(str(item.get("email", ""))):
                return Reply(422, {"errors": [{"title": "Email address is not valid.", "code": "email_invalid",
                                               "source": {"pointer": "/data/attributes/email"}}]})
            return Reply(200, {"contact": self._upsert(item)})
        if (method, path) == ("POST", "/api/3/contactLists"):
            link = (body or {}).get("contactList") or {}
            list_id, status = str(link.get("list")), link.get("status")
            if list_id not in self.lists or status not in (1, 2):
                return Reply(404 if list_id not in self.lists else 422,
                             {"message": "No Result found for List with id " + list_id})
            self.lists[list_id][str(link.get("contact"))] = status
            return Reply(201, {"contactList": {"contact": str(link.get("contact")), "list": list_id,
                                               "status": str(status)}})
        if (method, path) == ("POST", "/api/3/contactTags"):
            link = (body or {}).get("contactTag") or {}
            if str(link.get("tag")) not in self.tags:
                return Reply(404, {"message": f"No Result found for Tag with id {link.get('tag')}"})
            with self.lock:
                ident = str(next(self._ids))
                self.contact_tags[ident] = (str(link.get("contact")), str(link.get("tag")))
            return Reply(201, {"contactTag": {"id": ident, "contact": str(link["contact"]), "tag": str(link["tag"])}})
        if method == "GET" and (match := _CONTACT_TAGS.match(path)):
            return Reply(200, {"contactTags": [{"id": i, "contact": c, "tag": t}
                                               for i, (c, t) in self.contact_tags.items() if c == match.group(1)]})
        if method == "DELETE" and (match := _CONTACT_TAG.match(path)):
            with self.lock:
                gone = self.contact_tags.pop(match.group(1), None)
            return Reply(200, {}) if gone else Reply(404, {"message": "No Result found for ContactTag"})
        return Reply(404, {"message": "No Result found"})

    def _bulk_throttle(self, single: bool) -> Reply | None:
        window = self.bulk_windows.get(single)
        if window is None:
            return None
        with self.lock:
            stamps, now = self._bulk_stamps[single], time.monotonic()
            while stamps and stamps[0] <= now - window.seconds:
                stamps.popleft()
            if len(stamps) >= window.limit:
                return self.throttle_reply(None)
            stamps.append(now)
        return None

    def _bulk(self, body: dict[str, Any]) -> Reply:
        contacts = body.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            return Reply(400, {"success": 0, "message": "contacts is required"})
        if len(contacts) > BULK_LIMIT:
            return Reply(400, {"success": 0, "message": f"A maximum of {BULK_LIMIT} contacts may be imported at once"})
        if found := issues("activecampaign_bulk_import", body):
            # the place, never the value: values are people's details
            return Reply(400, {"success": 0, "message": f"Invalid request at {found[0].pointer}"})
        failures = []
        for index, item in enumerate(contacts):
            reasons = [] if _EMAIL.match(str(item.get("email", ""))) else ["Invalid email address"]
            reasons += [f"Custom field {v.get('id')} does not exist" for v in item.get("fields") or []
                        if str(v.get("id")) not in self.fields]
            if reasons:
                failures.append({"contact": index, "failureReasons": reasons})
        if failures:
            return Reply(400, {"success": 0, "message": "Some contacts failed validation", "failureReasons": failures})
        ids = [self._upsert(item)["id"] for item in contacts]
        for item, contact_id in zip(contacts, ids, strict=True):
            for tag in item.get("tags") or []:
                self.contact_tags[str(next(self._ids))] = (contact_id, str(tag))
        batch_id = f"{next(self._ids):08d}-ac-import"
        self.imports[batch_id] = {"status": "completed", "success": ids, "failure": []}
        return Reply(200, {"success": 1, "queued_contacts": len(contacts), "batchId": batch_id,
                           "message": "Contact import queued"})

    def _event(self, incoming: Incoming) -> Reply:
        form = {k: v[0] for k, v in incoming.form().items()}
        if form.get("actid") != self.account_id or form.get("key") != self.event_key:
            return Reply(200, {"success": 0, "message": "Invalid key or actid"})
        if not form.get("event"):
            return Reply(200, {"success": 0, "message": "No event name provided"})
        try:
            visit = json.loads(form.get("visit", "{}"))
        except ValueError:
            visit = {}
        if not _EMAIL.match(str(visit.get("email", ""))):
            return Reply(200, {"success": 0, "message": "Invalid visit email"})
        self.events.append({**form, "visit": visit})
        return Reply(200, {"success": 1, "message": "Event spawned"})
