"""Local Mailchimp Marketing API 3.0: audiences, members, tags, static segments, events.

Contract enforced (Mailchimp's API docs; body shapes are the JSON Schemas in
schemas/mailchimp_*.json, since the published swagger could not be copied):
- HTTP Basic with any user and the API key as password; otherwise 401
  ``{"title": "API Key Invalid", ...}`` (problem-details errors throughout).
- POST /3.0/lists/{list_id}: batch subscribe or unsubscribe, at most 500 members;
  200 with ``new_members``, ``updated_members`` and ``errors[]`` of
  ``{email_address, error, error_code}`` for the members it refused (an invalid or
  fake address, a permanently deleted contact, an existing member without
  ``update_existing``). Unknown merge fields are refused per member.
- GET /3.0/lists/{list_id}/merge-fields: the audience's merge fields.
- POST /3.0/lists/{list_id}/segments/{segment_id}: ``members_to_add`` /
  ``members_to_remove`` (500 each) of a static segment or tag; addresses that are
  not list members come back in ``errors[]``.
- POST /3.0/lists/{list_id}/members/{subscriber_hash}/tags and /events: 204; 404
  for an unknown member. subscriber_hash is the MD5 of the lower-cased address.
- GET /3.0/ping.
- Limits: 10 simultaneous connections per API key; the eleventh gets 429
  ``Too Many Requests`` (no Retry-After, as Mailchimp sends none, unless a fault gives one).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, _Handler
from connectors.vendor_servers.jsonschemas import issues

MAX_CONNECTIONS = 10
BATCH_LIMIT = 500
ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_LIST = re.compile(r"^/3\.0/lists/([^/]+)$")
_MERGE_FIELDS = re.compile(r"^/3\.0/lists/([^/]+)/merge-fields$")
_SEGMENT = re.compile(r"^/3\.0/lists/([^/]+)/segments/([^/]+)$")
_MEMBER_ACTION = re.compile(r"^/3\.0/lists/([^/]+)/members/([0-9a-f]{32})/(tags|events)$")
DEFAULT_MERGE_FIELDS = ("FNAME", "LNAME", "PHONE", "ADDRESS", "BIRTHDAY")
DEMO_LIST = "9e67587f52"  # the audience a server started on its own has, as Meta's has DEMO_AUDIENCE


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()  # noqa: S324 - Mailchimp's identifier, not security


def _problem(status: int, title: str, detail: str, **extra: Any) -> Reply:
    return Reply(status, {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail,
                          "instance": "00000000-0000-0000-0000-000000000000", **extra},
                 content_type="application/problem+json")


class MailchimpServer(VendorServer):
    vendor = "mailchimp"

    def __init__(self, api_key: str = "0123456789abcdef0123456789abcdef-us21",
                 max_connections: int | None = MAX_CONNECTIONS, **options: Any) -> None:
        super().__init__(**options)
        self.api_key = api_key
        self.max_connections = max_connections
        self.lists: dict[str, dict[str, Any]] = {}  # id -> {"members": {hash: member}, "merge_fields", "segments"}
        self.forgotten: set[str] = set()  # addresses permanently deleted (GDPR): never re-imported
        self.compliance: set[str] = set()  # hashes of members who unsubscribed themselves or bounced
        self.events: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._connections = threading.Lock()
        self.create_list(DEMO_LIST)

    # ------------------------------------------------------------ test helpers

    def create_list(self, list_id: str = DEMO_LIST) -> str:
        with self.lock:
            self.lists.setdefault(list_id, {"members": {}, "merge_fields": set(DEFAULT_MERGE_FIELDS), "segments": {}})
        return list_id

    def create_segment(self, list_id: str, segment_id: str = "1") -> str:
        with self.lock:
            self.lists[list_id]["segments"].setdefault(segment_id, set())
        return segment_id

    def unsubscribed_by_member(self, list_id: str, email: str) -> None:
        """The member clicked unsubscribe: Mailchimp's API may not subscribe them again (only
        ``pending``, a double opt-in, can bring them back)."""
        with self.lock:
            key = subscriber_hash(email)
            member = self.lists[list_id]["members"].setdefault(
                key, {"id": key, "email_address": email, "merge_fields": {}, "tags": set()})
            member["status"] = "unsubscribed"
            self.compliance.add(key)

    def member(self, list_id: str, email: str) -> dict[str, Any] | None:
        return self.lists[list_id]["members"].get(subscriber_hash(email))

    def segment_emails(self, list_id: str, segment_id: str) -> set[str]:
        members = self.lists[list_id]["members"]
        return {members[h]["email_address"] for h in self.lists[list_id]["segments"][segment_id]}

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        for name in ("mailchimp_batch_subscribe", "mailchimp_segment_members", "mailchimp_member_tags",
                     "mailchimp_member_event"):
            issues(name, {})

    def _handle(self, incoming: Incoming, handler: _Handler) -> Reply | None:
        # Mailchimp counts connections, not requests per second: hold a slot for the
        # whole request, slow faults included.
        with self._connections:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            over = self.max_connections is not None and self.in_flight > self.max_connections
        try:
            if over:
                with self.lock:
                    self.throttled += 1
                reply = self.throttle_reply(None)
                self._log(incoming, reply.status, 0.0)
                return reply
            return super()._handle(incoming, handler)
        finally:
            with self._connections:
                self.in_flight -= 1

    def authenticate(self, incoming: Incoming) -> Reply | None:
        header = incoming.headers.get("Authorization") or ""
        try:
            _, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            password = ""
        if not header.startswith("Basic ") or password != self.api_key:
            return _problem(401, "API Key Invalid",
                            "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = _problem(429, "Too Many Requests",
                         f"You have exceeded the limit of {MAX_CONNECTIONS} simultaneous connections.")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _problem(status, "Internal Server Error", "An unexpected internal error has occurred.")

    def route(self, incoming: Incoming) -> Reply:
        path, method = incoming.path, incoming.method
        if method == "GET" and path == "/3.0/ping":
            return Reply(200, {"health_status": "Everything's Chimpy!"})
        for pattern, wanted, handler in ((_LIST, "POST", self._batch), (_MERGE_FIELDS, "GET", self._merge_fields),
                                         (_SEGMENT, "POST", self._segment), (_MEMBER_ACTION, "POST", self._member)):
            if method == wanted and (match := pattern.match(path)):
                if match.group(1) not in self.lists:
                    return _problem(404, "Resource Not Found", "The requested resource could not be found.")
                return handler(incoming, *match.groups())
        return _problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _invalid(self, name: str, body: Any) -> Reply | None:
        found = issues(name, body)
        if not found:
            return None
        return _problem(400, "Invalid Resource", "The resource submitted could not be validated. For field-specific "
                        "details, see the 'errors' array.",
                        errors=[{"field": i.pointer.strip("/").replace("/", "."), "message": i.message} for i in found])

    def _merge_fields(self, incoming: Incoming, list_id: str) -> Reply:
        fields = sorted(self.lists[list_id]["merge_fields"])
        return Reply(200, {"merge_fields": [{"tag": tag, "name": tag.title(), "list_id": list_id} for tag in fields],
                           "list_id": list_id, "total_items": len(fields)})

    def _batch(self, incoming: Incoming, list_id: str) -> Reply:
        body = incoming.json()
        if len((body or {}).get("members") or []) > BATCH_LIMIT:
            return _problem(400, "Invalid Resource", f"You may only submit {BATCH_LIMIT} members at a time.")
        if refusal := self._invalid("mailchimp_batch_subscribe", body):
            return refusal
        audience = self.lists[list_id]
        created, updated, errors = [], [], []
        with self.lock:
            for item in body["members"]:
                email = item["email_address"].strip()
                key = subscriber_hash(email)
                problem = self._member_problem(audience, item, key, body.get("update_existing", False))
                if problem:
                    errors.append({"email_address": email, "error": problem[0], "error_code": problem[1],
                                   "field": "", "field_message": ""})
                    continue
                existing = audience["members"].get(key)
                member = existing or {"id": key, "email_address": email, "merge_fields": {}, "tags": set()}
                member["status"] = item["status"]
                member["merge_fields"].update(item.get("merge_fields") or {})
                if body.get("sync_tags"):
                    member["tags"] = set()
                member["tags"].update(item.get("tags") or [])
                audience["members"][key] = member
                public = {k: (sorted(v) if isinstance(v, set) else v) for k, v in member.items()}
                (updated if existing else created).append(public)
        return Reply(200, {"new_members": created, "updated_members": updated, "errors": errors,
                           "total_created": len(created), "total_updated": len(updated), "error_count": len(errors)})

    def _member_problem(self, audience: dict[str, Any], item: dict[str, Any], key: str,
                        update_existing: bool) -> tuple[str, str] | None:
        email = item["email_address"].strip()
        if not _EMAIL.match(email) or email.split("@")[1].lower() in ("example.invalid", "test.test"):
            return f"{email} looks fake or invalid, please enter a real email address.", "ERROR_GENERIC"
        if email.lower() in self.forgotten:
            return (f"{email} was permanently deleted and cannot be re-imported. The contact must re-subscribe "
                    "to get back on the list.", "ERROR_GENERIC")
        if key in audience["members"] and update_existing and key in self.compliance and item["status"] == "subscribed":
            return (f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be "
                    "subscribed.", "ERROR_GENERIC")
        if key in audience["members"] and not update_existing:
            return f"{email} is already a list member, do you want to update? please provide update_existing:true " \
                   "in the request body", "ERROR_CONTACT_EXISTS"
        unknown = sorted(set(item.get("merge_fields") or {}) - audience["merge_fields"])
        if unknown:
            return f"Your merge fields were invalid: {', '.join(unknown)} is not a merge field.", "ERROR_GENERIC"
        return None

    def _segment(self, incoming: Incoming, list_id: str, segment_id: str) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("mailchimp_segment_members", body):
            return refusal
        audience = self.lists[list_id]
        with self.lock:
            if segment_id not in audience["segments"]:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            segment, added, removed, not_members = audience["segments"][segment_id], [], [], []
            for action, emails in (("add", body.get("members_to_add", [])),
                                   ("remove", body.get("members_to_remove", []))):
                for email in emails:
                    key = subscriber_hash(email.strip())
                    if key not in audience["members"]:
                        not_members.append(email)
                        continue
                    (segment.add if action == "add" else segment.discard)(key)
                    (added if action == "add" else removed).append({"id": key, "email_address": email})
        errors = [{"email_addresses": not_members, "error": "Email addresses are not list members"}] if not_members \
            else []
        return Reply(200, {"members_added": added, "members_removed": removed, "errors": errors,
                           "total_added": len(added), "total_removed": len(removed), "error_count": len(not_members)})

    def _member(self, incoming: Incoming, list_id: str, key: str, action: str) -> Reply:
        body = incoming.json()
        if refusal := self._invalid("mailchimp_member_tags" if action == "tags" else "mailchimp_member_event", body):
            return refusal
        with self.lock:
            member = self.lists[list_id]["members"].get(key)
            if member is None:
                return _problem(404, "Resource Not Found", "The requested resource could not be found.")
            if action == "events":
                self.events.append({"list_id": list_id, "email_address": member["email_address"], **body})
            else:
                for tag in body["tags"]:
                    (member["tags"].add if tag["status"] == "active" else member["tags"].discard)(tag["name"])
        return Reply(204)
