"""Local SendGrid v3: mail send, marketing contacts and list membership.

Contract enforced (from SendGrid's docs and its OpenAPI documents in specs/sendgrid):
- ``Authorization: Bearer <api key>``; otherwise 401 ``{"errors": [{"field": null, "message": ...}]}``.
- POST /v3/mail/send: body validated against ``PostMailSend``; at most 1000
  personalizations and 1000 recipients in total; 30 MB; an invalid address
  rejects the whole request with 400 naming the field
  (``personalizations.3.to.0.email``). Success: 202, empty body, ``X-Message-Id``.
- PUT /v3/marketing/contacts: 1..30,000 contacts and at most 6 MB; 202 ``{"job_id"}``.
- POST /v3/marketing/contacts/search/emails: up to 100 emails; 404 when none match.
- DELETE /v3/marketing/lists/{id}/contacts?contact_ids=...: 202 ``{"job_id"}``.
- 429 ``{"errors": [{"field": null, "message": "too many requests"}]}`` with
  X-RateLimit-Limit / -Remaining / -Reset (a Unix timestamp); no Retry-After.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import defaultdict
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.openapi import schema_issues

IDEMPOTENCY_ARG = "throughline_action_id"
MAIL_MAX_BYTES = 30 * 1024 * 1024
CONTACTS_MAX_BYTES = 6 * 1024 * 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LIST_CONTACTS = re.compile(r"^/v3/marketing/lists/([^/]+)/contacts$")


def _errors(*items: tuple[str | None, str]) -> dict[str, Any]:
    return {"errors": [{"field": field, "message": message} for field, message in items]}


class SendGridServer(VendorServer):
    vendor = "sendgrid"
    # SendGrid publishes no mail-send number; 600/min is its documented v3 default.
    default_rate_limits = (WindowLimit(600, 60.0),)

    def __init__(self, api_key: str = "SG.test-key-0123456789", **options: Any) -> None:
        super().__init__(**options)
        self.api_key = api_key
        self.rate_limit_per_window = self.rate_limits[0].limit if self.rate_limits else 0
        self.messages: list[dict[str, Any]] = []  # one per accepted personalization
        self.messages_by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.contacts: dict[str, dict[str, Any]] = {}  # by lower-cased email
        self.lists: dict[str, set[str]] = {}  # list id -> contact ids

    # ------------------------------------------------------------ test helpers

    def create_list(self, list_id: str | None = None) -> str:
        list_id = list_id or str(uuid.uuid4())
        with self.lock:
            self.lists.setdefault(list_id, set())
        return list_id

    def list_emails(self, list_id: str) -> set[str]:
        with self.lock:
            members = self.lists.get(list_id, set())
            return {email for email, contact in self.contacts.items() if contact["id"] in members}

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        schema_issues(self.vendor, "tsg_mail_v3.json", "/v3/mail/send", "post", {})
        schema_issues(self.vendor, "tsg_mc_contacts_v3.json", "/v3/marketing/contacts", "put", {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        header = incoming.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return Reply(401, _errors((None, "authorization required")))
        if header[len("Bearer ") :] != self.api_key:
            return Reply(401, _errors((None, "The provided authorization grant is invalid, expired, or revoked")))
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        headers = {"X-RateLimit-Limit": str(self.rate_limit_per_window), "X-RateLimit-Remaining": "0"}
        if retry_after is not None:
            headers["X-RateLimit-Reset"] = str(math.ceil(time.time() + retry_after))
        return Reply(429, _errors((None, "too many requests")), headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, {"errors": [{"message": "internal error"}]})

    def route(self, incoming: Incoming) -> Reply:
        method, path = incoming.method, incoming.path
        if method == "GET" and path == "/v3/scopes":
            return Reply(200, {"scopes": ["mail.send", "marketing.read", "marketing.write"]})
        if method == "POST" and path == "/v3/mail/send":
            return self._mail_send(incoming)
        if method == "PUT" and path == "/v3/marketing/contacts":
            return self._upsert_contacts(incoming)
        if method == "POST" and path == "/v3/marketing/contacts/search/emails":
            return self._search_emails(incoming)
        match = _LIST_CONTACTS.match(path)
        if method == "DELETE" and match:
            return self._remove_from_list(match.group(1), incoming)
        return Reply(404, _errors((None, "resource not found")))

    def _mail_send(self, incoming: Incoming) -> Reply:
        if len(incoming.body) > MAIL_MAX_BYTES:
            return Reply(413, _errors((None, "content too large")))
        body = incoming.json()
        issues = schema_issues(self.vendor, "tsg_mail_v3.json", "/v3/mail/send", "post", body)
        if issues:
            return Reply(400, _errors(*((i.pointer.strip("/").replace("/", ".") or None, i.message) for i in issues)))
        personalizations = body["personalizations"]
        recipients = sum(len(p.get(kind, [])) for p in personalizations for kind in ("to", "cc", "bcc"))
        if recipients > 1000:
            return Reply(400, _errors(("personalizations", "The total number of recipients must be less than 1000.")))
        invalid = [
            (f"personalizations.{i}.{kind}.{j}.email", "Does not contain a valid address.")
            for i, personalization in enumerate(personalizations)
            for kind in ("to", "cc", "bcc")
            for j, recipient in enumerate(personalization.get(kind, []))
            if not _EMAIL.match(recipient.get("email", ""))
        ]
        if invalid:
            return Reply(400, _errors(*invalid))
        message_id = uuid.uuid4().hex[:22]
        with self.lock:
            for personalization in personalizations:
                custom_args = {**body.get("custom_args", {}), **personalization.get("custom_args", {})}
                message = {"message_id": message_id, "personalization": personalization, "custom_args": custom_args}
                self.messages.append(message)
                key = custom_args.get(IDEMPOTENCY_ARG)
                if key is not None:
                    self.messages_by_key[key].append(message)
        return Reply(202, None, {"X-Message-Id": message_id})

    def _upsert_contacts(self, incoming: Incoming) -> Reply:
        if len(incoming.body) > CONTACTS_MAX_BYTES:
            return Reply(413, _errors((None, "request body is larger than 6MB")))
        body = incoming.json()
        issues = schema_issues(self.vendor, "tsg_mc_contacts_v3.json", "/v3/marketing/contacts", "put", body)
        if issues:
            return Reply(400, _errors(*((_contacts_field(i.pointer), i.message) for i in issues)))
        list_ids = body.get("list_ids", [])
        with self.lock:
            missing = [list_id for list_id in list_ids if list_id not in self.lists]
        if missing:
            return Reply(404, _errors(("list_ids", f"list {missing[0]} does not exist")))
        problems = []
        for index, contact in enumerate(body["contacts"]):
            if not any(contact.get(k) for k in ("email", "phone_number_id", "external_id", "anonymous_id")):
                problems.append((f"contacts[{index}]", "at least one identifier is required"))
            elif "email" in contact and not _EMAIL.match(contact["email"]):
                problems.append((f"contacts[{index}].email", "email is invalid"))
        if problems:
            return Reply(400, _errors(*problems))
        with self.lock:
            for contact in body["contacts"]:
                key = (contact.get("email") or contact.get("external_id") or contact.get("anonymous_id")).lower()
                stored = self.contacts.setdefault(key, {"id": str(uuid.uuid4())})
                stored.update(contact)
                for list_id in list_ids:
                    self.lists[list_id].add(stored["id"])
        return Reply(202, {"job_id": str(uuid.uuid4())})

    def _search_emails(self, incoming: Incoming) -> Reply:
        body = incoming.json() or {}
        emails = body.get("emails")
        if not isinstance(emails, list) or not emails:
            return Reply(400, _errors(("emails", "emails is required")))
        if len(emails) > 100:
            return Reply(400, _errors(("emails", "no more than 100 emails may be searched at once")))
        result: dict[str, Any] = {}
        with self.lock:
            for email in emails:
                contact = self.contacts.get(email.lower())
                result[email] = {"contact": dict(contact)} if contact else {"error": "contact not found"}
        if not any("contact" in entry for entry in result.values()):
            return Reply(404, _errors((None, "No contacts found")))
        return Reply(200, {"result": result})

    def _remove_from_list(self, list_id: str, incoming: Incoming) -> Reply:
        contact_ids = [c for c in (incoming.param("contact_ids") or "").split(",") if c]
        if not contact_ids:
            return Reply(400, _errors(("contact_ids", "contact_ids is required")))
        with self.lock:
            if list_id not in self.lists:
                return Reply(404, _errors(("id", "list not found")))
            self.lists[list_id].difference_update(contact_ids)
        return Reply(202, {"job_id": str(uuid.uuid4())})


def _contacts_field(pointer: str) -> str | None:
    # /contacts/3/email -> contacts[3].email, the shape SendGrid uses for contact errors.
    parts = pointer.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "contacts" and parts[1].isdigit():
        rest = ".".join(parts[2:])
        return f"contacts[{parts[1]}]" + (f".{rest}" if rest else "")
    return ".".join(parts) or None
