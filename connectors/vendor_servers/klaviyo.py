"""Local Klaviyo (JSON:API, revision 2026-07-15).

Contract enforced (Klaviyo's docs and its OpenAPI documents in specs/klaviyo):
- ``Authorization: Klaviyo-API-Key <private key>`` (401 ``not_authenticated``),
  a ``revision`` header (400), ``application/vnd.api+json`` bodies (415).
- POST /api/profile-bulk-import-jobs: ``ProfileImportJobCreateQuery``, at most
  10,000 profiles and 5 MB; 202 with the job. Bad profiles do not fail the
  request: the job completes and lists them under ``/import-errors``.
- GET /api/profile-bulk-import-jobs/{id} and /{id}/import-errors (cursor pages).
- GET /api/profiles?filter=any(email,[...]) to find profile ids.
- DELETE /api/lists/{id}/relationships/profiles: at most 1000 profiles; 204.
- POST /api/event-bulk-create-jobs: at most 1000 events and 5 MB; 202.
  Events repeat-sent with the same ``unique_id`` are stored once.
- Errors as ``{"errors": [{"id", "status", "code", "title", "detail", "source"}]}``;
  throttling is 429 ``code: throttled`` with Retry-After, by burst (1 s) and
  steady (60 s) windows: 10/s and 150/m for these endpoints.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.openapi import schema_issues

REVISION = "2026-07-15"
JSON_API = "application/vnd.api+json"
MAX_PAYLOAD = 5 * 1024 * 1024
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_JOB = re.compile(r"^/api/profile-bulk-import-jobs/([^/]+)$")
_JOB_ERRORS = re.compile(r"^/api/profile-bulk-import-jobs/([^/]+)/import-errors$")
_LIST_PROFILES = re.compile(r"^/api/lists/([^/]+)/relationships/profiles$")
_ANY_EMAIL = re.compile(r"^any\(email,(\[.*\])\)$")


def _error(status: int, code: str, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title, "detail": detail}
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    return error


def _errors_reply(status: int, *errors: dict[str, Any]) -> Reply:
    return Reply(status, {"errors": list(errors)}, content_type=JSON_API)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class KlaviyoServer(VendorServer):
    vendor = "klaviyo"
    default_rate_limits = (WindowLimit(10, 1.0), WindowLimit(150, 60.0))

    def __init__(self, api_key: str = "pk_test_0123456789abcdef", **options: Any) -> None:
        super().__init__(**options)
        self.api_key = api_key
        self.polls_until_complete = 1  # GETs of a job before it reports complete
        self.profiles: dict[str, dict[str, Any]] = {}  # by lower-cased email (or external id)
        self.lists: dict[str, set[str]] = {}  # list id -> profile ids
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}  # by (profile, metric, unique_id)
        self.event_submissions = 0

    # ------------------------------------------------------------ test helpers

    def create_list(self, list_id: str | None = None) -> str:
        list_id = list_id or uuid.uuid4().hex[:6]
        with self.lock:
            self.lists.setdefault(list_id, set())
        return list_id

    def list_emails(self, list_id: str) -> set[str]:
        with self.lock:
            members = self.lists.get(list_id, set())
            return {p["attributes"].get("email") for p in self.profiles.values() if p["id"] in members}

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        schema_issues(self.vendor, "bulk_import_profiles.json", "/api/profile-bulk-import-jobs", "post", {}, JSON_API)
        schema_issues(self.vendor, "bulk_create_events.json", "/api/event-bulk-create-jobs", "post", {}, JSON_API)
        schema_issues(self.vendor, "remove_profiles_from_list.json", "/api/lists/{id}/relationships/profiles",
                      "delete", {}, JSON_API)

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") != f"Klaviyo-API-Key {self.api_key}":
            return _errors_reply(
                401,
                _error(401, "not_authenticated", "Authentication credentials were not provided.",
                       "Missing or invalid private key.", "/data/"),
            )
        if not incoming.headers.get("revision"):
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "A revision header is required."))
        if incoming.body and (incoming.headers.get("Content-Type") or "").split(";")[0] != JSON_API:
            return _errors_reply(
                415, _error(415, "unsupported_media_type", "Unsupported media type.", f"Use {JSON_API}.")
            )
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        seconds = int(retry_after) if retry_after is not None else 1
        reply = _errors_reply(
            429,
            _error(429, "throttled", "Request was throttled.",
                   f"Request was throttled. Expected available in {seconds} second{'s' if seconds != 1 else ''}."),
        )
        if retry_after is not None:
            reply.headers["Retry-After"] = str(seconds)
        return reply

    def server_error_reply(self, status: int) -> Reply:
        return _errors_reply(status, _error(status, "error", "A server error occurred.", "Please try again later."))

    def route(self, incoming: Incoming) -> Reply:
        method, path = incoming.method, incoming.path
        if len(incoming.body) > MAX_PAYLOAD:
            return _errors_reply(413, _error(413, "too_large", "Payload too large.", "The maximum payload is 5MB."))
        if method == "GET" and path == "/api/accounts":
            return Reply(200, {"data": [{"type": "account", "id": "TEST01"}]}, content_type=JSON_API)
        if method == "POST" and path == "/api/profile-bulk-import-jobs":
            return self._create_import_job(incoming)
        if method == "POST" and path == "/api/event-bulk-create-jobs":
            return self._create_events(incoming)
        if method == "GET" and path == "/api/profiles":
            return self._get_profiles(incoming)
        if match := _JOB_ERRORS.match(path):
            return self._import_errors(match.group(1), incoming)
        if method == "GET" and (match := _JOB.match(path)):
            return self._get_job(match.group(1))
        if method == "DELETE" and (match := _LIST_PROFILES.match(path)):
            return self._remove_from_list(match.group(1), incoming)
        return _errors_reply(404, _error(404, "not_found", "Not found.", "The requested resource was not found."))

    def _invalid(self, issues: list[Any]) -> Reply:
        return _errors_reply(
            400, *(_error(400, "invalid", "Invalid input.", issue.message, issue.pointer) for issue in issues)
        )

    def _create_import_job(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        issues = schema_issues(
            self.vendor, "bulk_import_profiles.json", "/api/profile-bulk-import-jobs", "post", body, JSON_API
        )
        if issues:
            return self._invalid(issues)
        profiles = body["data"]["attributes"]["profiles"]["data"]
        if len(profiles) > 10_000:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.",
                                             "A job accepts at most 10000 profiles.", "/data/attributes/profiles/data"))
        list_ids = [item["id"] for item in body["data"].get("relationships", {}).get("lists", {}).get("data", [])]
        with self.lock:
            for list_id in list_ids:
                if list_id not in self.lists:
                    return _errors_reply(404, _error(404, "not_found", "Not found.", f"List {list_id} not found."))
            import_errors = []
            for index, profile in enumerate(profiles):
                problem = _profile_problem(profile["attributes"])
                if problem:
                    field, detail = problem
                    import_errors.append({
                        "type": "import-error",
                        "id": str(uuid.uuid4()),
                        "attributes": {
                            "code": "invalid", "title": "Invalid input.", "detail": detail,
                            "source": {"pointer": f"/data/attributes/profiles/data/{index}/attributes/{field}"},
                            "original_payload": profile["attributes"],
                        },
                    })
                    continue
                stored = self._upsert_profile(profile["attributes"])
                for list_id in list_ids:
                    self.lists[list_id].add(stored["id"])
            job_id = uuid.uuid4().hex
            self.jobs[job_id] = {
                "total": len(profiles), "errors": import_errors, "polls": 0, "created_at": _now(), "lists": list_ids,
            }
        return Reply(202, {"data": self._job_resource(job_id)}, content_type=JSON_API)

    def _upsert_profile(self, attributes: dict[str, Any]) -> dict[str, Any]:
        key = (attributes.get("email") or attributes.get("external_id") or attributes.get("phone_number")).lower()
        stored = self.profiles.setdefault(key, {"type": "profile", "id": "01" + uuid.uuid4().hex[:24].upper(),
                                                "attributes": {}})
        stored["attributes"].update({k: v for k, v in attributes.items() if v is not None})
        return stored

    def _job_resource(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        complete = job["polls"] >= self.polls_until_complete
        failed = len(job["errors"])
        return {
            "type": "profile-bulk-import-job",
            "id": job_id,
            "attributes": {
                "status": "complete" if complete else "processing",
                "created_at": job["created_at"],
                "total_count": job["total"],
                "completed_count": job["total"] - failed if complete else 0,
                "failed_count": failed if complete else 0,
                "completed_at": _now() if complete else None,
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": i} for i in job["lists"]]}},
        }

    def _get_job(self, job_id: str) -> Reply:
        with self.lock:
            if job_id not in self.jobs:
                return _errors_reply(404, _error(404, "not_found", "Not found.", "Job not found."))
            self.jobs[job_id]["polls"] += 1
            return Reply(200, {"data": self._job_resource(job_id)}, content_type=JSON_API)

    def _import_errors(self, job_id: str, incoming: Incoming) -> Reply:
        size = int(incoming.param("page[size]") or 20)
        if not 1 <= size <= 100:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "page[size] must be 1..100."))
        start = int(incoming.param("page[cursor]") or 0)
        with self.lock:
            if job_id not in self.jobs:
                return _errors_reply(404, _error(404, "not_found", "Not found.", "Job not found."))
            errors = self.jobs[job_id]["errors"]
        page = errors[start : start + size]
        self_link = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
        links: dict[str, str] = {"self": self_link}
        if start + size < len(errors):
            links["next"] = f"{self_link}?page[size]={size}&page[cursor]={start + size}"
        return Reply(200, {"data": page, "links": links}, content_type=JSON_API)

    def _get_profiles(self, incoming: Incoming) -> Reply:
        match = _ANY_EMAIL.match(incoming.param("filter") or "")
        if not match:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "Unsupported filter.", None))
        try:
            emails = json.loads(match.group(1))
        except ValueError:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "Malformed filter list."))
        if len(emails) > 100:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "At most 100 values in a filter."))
        with self.lock:
            found = [self.profiles[e.lower()] for e in emails if e.lower() in self.profiles]
        return Reply(200, {"data": found, "links": {"self": "/api/profiles"}}, content_type=JSON_API)

    def _remove_from_list(self, list_id: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        issues = schema_issues(
            self.vendor, "remove_profiles_from_list.json", "/api/lists/{id}/relationships/profiles", "delete",
            body, JSON_API,
        )
        if issues:
            return self._invalid(issues)
        if len(body["data"]) > 1000:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.",
                                             "At most 1000 profiles per request.", "/data"))
        with self.lock:
            if list_id not in self.lists:
                return _errors_reply(404, _error(404, "not_found", "Not found.", f"List {list_id} not found."))
            self.lists[list_id].difference_update(item["id"] for item in body["data"])
        return Reply(204)

    def _create_events(self, incoming: Incoming) -> Reply:
        body = incoming.json()
        issues = schema_issues(
            self.vendor, "bulk_create_events.json", "/api/event-bulk-create-jobs", "post", body, JSON_API
        )
        if issues:
            return self._invalid(issues)
        entries = body["data"]["attributes"]["events-bulk-create"]["data"]
        count = sum(len(entry["attributes"]["events"]["data"]) for entry in entries)
        if count > 1000:
            return _errors_reply(400, _error(400, "invalid", "Invalid input.", "At most 1000 events per request."))
        problems = []
        for index, entry in enumerate(entries):
            profile = entry["attributes"]["profile"]["data"].get("attributes", {})
            if not any(profile.get(k) for k in ("email", "phone_number", "external_id", "anonymous_id")):
                problems.append(_error(400, "invalid", "Invalid input.", "A profile identifier is required.",
                                       f"/data/attributes/events-bulk-create/data/{index}/attributes/profile"))
            elif profile.get("email") and not _EMAIL.match(profile["email"]):
                problems.append(_error(400, "invalid", "Invalid input.", "Invalid email address",
                                       f"/data/attributes/events-bulk-create/data/{index}/attributes/profile/data/attributes/email"))
        if problems:
            return _errors_reply(400, *problems)
        with self.lock:
            self.event_submissions += 1
            for entry in entries:
                profile = entry["attributes"]["profile"]["data"]["attributes"]
                who = (profile.get("email") or profile.get("external_id") or profile.get("phone_number")).lower()
                for event in entry["attributes"]["events"]["data"]:
                    attributes = event["attributes"]
                    metric = attributes["metric"]["data"]["attributes"]["name"]
                    unique_id = attributes.get("unique_id") or attributes.get("time") or uuid.uuid4().hex
                    self.events.setdefault(f"{who}|{metric}|{unique_id}", {"profile": who, **attributes})
        return Reply(202, content_type=JSON_API)


def _profile_problem(attributes: dict[str, Any]) -> tuple[str, str] | None:
    if not any(attributes.get(k) for k in ("email", "phone_number", "external_id")):
        return "email", "A profile requires an email, phone_number or external_id."
    if attributes.get("email") and not _EMAIL.match(attributes["email"]):
        return "email", f"Invalid email address: {attributes['email']}"
    if attributes.get("phone_number") and not _PHONE.match(attributes["phone_number"]):
        return "phone_number", "Invalid phone number format (Example of a valid format: +12345678901)"
    return None
