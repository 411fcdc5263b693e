"""Local Google Ads API (REST): Customer Match through OfflineUserDataJobService.

Contract enforced (Google Ads API reference and Customer Match guides; body
shapes are the JSON Schemas in schemas/google_ads_*.json):
- ``Authorization: Bearer <access token>`` (401 UNAUTHENTICATED,
  authenticationError OAUTH_TOKEN_INVALID) and a ``developer-token`` header
  (403 PERMISSION_DENIED, authorizationError DEVELOPER_TOKEN_NOT_APPROVED);
  ``login-customer-id``, when sent, must be 10 digits.
- POST /{v}/customers/{cid}/offlineUserDataJobs:create -> ``{resourceName}``;
  the user list must exist (offlineUserDataJobError INVALID_USER_LIST_ID).
- POST /{v}/{job}:addOperations: at most 100,000 user identifiers per request
  and 20 per operation (TOO_MANY_USER_IDENTIFIERS), create and remove never in
  one job (CONFLICTING_OPERATION), hashes lower-case SHA-256 hex
  (INVALID_SHA256_FORMAT). With ``enablePartialFailure`` bad operations come
  back in ``partialFailureError`` located at ``operations[i]``; without it
  the request fails whole. Only a PENDING job takes operations.
- POST /{v}/{job}:run -> a long-running operation; the job's operations are
  applied to the list and the job is SUCCESS. A job that is not PENDING
  cannot run again.
- POST /{v}/customers/{cid}/googleAds:search for ``offline_user_data_job.status``.
- GET /{v}/customers:listAccessibleCustomers.
- Errors are ``{"error": {code, message, status, details: [GoogleAdsFailure]}}``;
  quota exhaustion is 429 RESOURCE_EXHAUSTED with ``quotaErrorDetails.retryDelay``.
Members are kept per user list, keyed by the hashed email (else phone, else
the address), so tests can assert exactly who is on a list.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit
from connectors.vendor_servers.jsonschemas import issues

MAX_REQUEST_IDENTIFIERS = 100_000
MAX_OPERATION_IDENTIFIERS = 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CREATE = re.compile(r"^/(v\d+)/customers/(\d+)/offlineUserDataJobs:create$")
_JOB_ACTION = re.compile(r"^/(v\d+)/(customers/(\d+)/offlineUserDataJobs/(\d+)):(addOperations|run)$")
_SEARCH = re.compile(r"^/(v\d+)/customers/(\d+)/googleAds:search$")
_LIST_ACCESSIBLE = re.compile(r"^/(v\d+)/customers:listAccessibleCustomers$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _failure(version: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"@type": f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure",
            "errors": errors, "requestId": uuid.uuid4().hex[:22]}


def _ads_error(code: dict[str, str], message: str, path: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"errorCode": code, "message": message}
    if path:
        error["location"] = {"fieldPathElements": path}
    return error


def _error_reply(status: int, message: str, errors: list[dict[str, Any]], version: str = "v26",
                 headers: dict[str, str] | None = None) -> Reply:
    body = {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN"),
                      "details": [_failure(version, errors)] if errors else []}}
    return Reply(status, body, headers or {})


def _member_key(user_data: dict[str, Any]) -> str | None:
    by_kind = {kind: value for identifier in user_data["userIdentifiers"] for kind, value in identifier.items()}
    if by_kind.get("hashedEmail"):
        return by_kind["hashedEmail"]
    if by_kind.get("hashedPhoneNumber"):
        return by_kind["hashedPhoneNumber"]
    address = by_kind.get("addressInfo")
    if address:
        return "|".join(str(address.get(k, "")) for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode"))
    return None


class GoogleAdsServer(VendorServer):
    vendor = "google_ads"
    # Basic access quotas are daily operation budgets; a short window exercises
    # the RESOURCE_EXHAUSTED path the same way.
    default_rate_limits = (WindowLimit(100, 10.0),)

    def __init__(self, access_token: str = "ya29.test-access-token-0123", developer_token: str = "devtoken-0123456789",
                 customer_id: str = "1234567890", **options: Any) -> None:
        super().__init__(**options)
        self.access_token = access_token
        self.developer_token = developer_token
        self.customer_id = customer_id
        self.user_lists: dict[str, set[str]] = {}  # resource name -> member keys
        self.jobs: dict[str, dict[str, Any]] = {}
        self.reject_values: dict[str, tuple[str, str]] = {}  # hash -> (offlineUserDataJobError, message)
        self.runs: Counter[str] = Counter()
        self._ids = itertools.count(1000)

    # ------------------------------------------------------------ test helpers

    def create_user_list(self, list_id: str | None = None) -> str:
        list_id = list_id or str(next(self._ids))
        with self.lock:
            self.user_lists.setdefault(f"customers/{self.customer_id}/userLists/{list_id}", set())
        return list_id

    def members(self, list_id: str) -> set[str]:
        with self.lock:
            return set(self.user_lists.get(f"customers/{self.customer_id}/userLists/{list_id}", set()))

    # ------------------------------------------------------------ contract

    def preload(self) -> None:
        issues("google_ads_offline_user_data_job_create", {})
        issues("google_ads_offline_user_data_job_add_operations", {})

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error_reply(401, "Request had invalid authentication credentials.",
                                [_ads_error({"authenticationError": "OAUTH_TOKEN_INVALID"},
                                            "Oauth token is invalid.")])
        if incoming.headers.get("developer-token") != self.developer_token:
            return _error_reply(403, "The caller does not have permission",
                                [_ads_error({"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"},
                                            "The developer token is not approved.")])
        login = incoming.headers.get("login-customer-id")
        if login is not None and not re.fullmatch(r"\d{10}", login):
            return _error_reply(400, "Request contains an invalid argument.",
                                [_ads_error({"requestError": "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION"},
                                            "login-customer-id must be 10 digits.")])
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        details: dict[str, Any] = {"rateScope": "ACCOUNT", "rateName": "Requests per service per method"}
        message = "Too many requests."
        if retry_after is not None:
            details["retryDelay"] = f"{int(retry_after)}s"
            message += f" Retry in {int(retry_after)} seconds."
        error = _ads_error({"quotaError": "RESOURCE_EXHAUSTED"}, message)
        error["details"] = {"quotaErrorDetails": details}
        return _error_reply(429, "Resource has been exhausted (e.g. check quota).", [error])

    def server_error_reply(self, status: int) -> Reply:
        return _error_reply(status, "Internal error encountered." if status == 500 else "The service is unavailable.",
                            [_ads_error({"internalError": "TRANSIENT_ERROR"}, "The request failed, retry it.")])

    def route(self, incoming: Incoming) -> Reply:
        path = incoming.path
        if incoming.method == "GET" and _LIST_ACCESSIBLE.match(path):
            return Reply(200, {"resourceNames": [f"customers/{self.customer_id}"]})
        if incoming.method != "POST":
            return _error_reply(404, "Not found.", [])
        if match := _CREATE.match(path):
            return self._create(match.group(1), match.group(2), incoming)
        if match := _JOB_ACTION.match(path):
            version, job, _, _, action = match.groups()
            return self._add(version, job, incoming) if action == "addOperations" else self._run(version, job)
        if match := _SEARCH.match(path):
            return self._search(incoming)
        return _error_reply(404, "Not found.", [])

    def _invalid(self, version: str, found: list[Any]) -> Reply:
        return _error_reply(400, "Request contains an invalid argument.", [
            _ads_error({"fieldError": "INVALID_VALUE"}, f"{issue.pointer}: {issue.message}") for issue in found[:10]
        ], version)

    def _create(self, version: str, customer: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        found = issues("google_ads_offline_user_data_job_create", body)
        if found:
            return self._invalid(version, found)
        user_list = body["job"]["customerMatchUserListMetadata"]["userList"]
        with self.lock:
            if customer != self.customer_id or user_list not in self.user_lists:
                return _error_reply(400, "Request contains an invalid argument.", [_ads_error(
                    {"offlineUserDataJobError": "INVALID_USER_LIST_ID"}, "The user list ID provided for the job is invalid.",
                    [{"fieldName": "job"}, {"fieldName": "customer_match_user_list_metadata"}, {"fieldName": "user_list"}])],
                    version)
            job = f"customers/{customer}/offlineUserDataJobs/{next(self._ids)}"
            self.jobs[job] = {"user_list": user_list, "status": "PENDING", "operations": [], "kind": None}
        return Reply(200, {"resourceName": job})

    def _add(self, version: str, job_name: str, incoming: Incoming) -> Reply:
        body = incoming.json()
        found = issues("google_ads_offline_user_data_job_add_operations", body)
        if found:
            return self._invalid(version, found)
        operations = body["operations"]
        total = sum(len(op.get("create", op.get("remove", {})).get("userIdentifiers", [])) for op in operations)
        if total > MAX_REQUEST_IDENTIFIERS:
            return _error_reply(400, "Request contains an invalid argument.", [_ads_error(
                {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"},
                "Maximum number of user identifiers allowed per request is 100,000 and per operation is 20.")], version)
        with self.lock:
            job = self.jobs.get(job_name)
            if job is None:
                return _error_reply(404, "Requested entity was not found.", [], version)
            if job["status"] != "PENDING":
                return _error_reply(400, "Request contains an invalid argument.", [_ads_error(
                    {"offlineUserDataJobError": "INVALID_OPERATION_ORDER"},
                    "Operations can only be added to a job that has not been run.")], version)
            errors = []
            accepted = []
            for index, operation in enumerate(operations):
                kind = next(iter(operation))
                problem = self._operation_problem(kind, operation[kind], job["kind"])
                if problem:
                    code, message, tail = problem
                    errors.append(_ads_error({"offlineUserDataJobError": code}, message,
                                             [{"fieldName": "operations", "index": index}, {"fieldName": kind}, *tail]))
                else:
                    accepted.append((kind, operation[kind]))
            if errors and not body.get("enablePartialFailure"):
                return _error_reply(400, "Request contains an invalid argument.", errors, version)
            for kind, user_data in accepted:
                job["kind"] = job["kind"] or kind
                job["operations"].append((kind, user_data))
        answer: dict[str, Any] = {}
        if errors:
            answer["partialFailureError"] = {
                "code": 3, "message": f"Multiple errors in 'details'. First error: {errors[0]['message']}",
                "details": [_failure(version, errors)],
            }
        return Reply(200, answer)

    def _operation_problem(self, kind: str, user_data: Any, job_kind: str | None) -> tuple[str, str, list[Any]] | None:
        if kind == "removeAll":
            return None
        if job_kind and kind != job_kind:
            return "CONFLICTING_OPERATION", "Mixing creation and removal of offline data in the same job is not allowed.", []
        identifiers = user_data["userIdentifiers"]
        if len(identifiers) > MAX_OPERATION_IDENTIFIERS:
            return ("TOO_MANY_USER_IDENTIFIERS",
                    "Maximum number of user identifiers allowed per request is 100,000 and per operation is 20.", [])
        for position, identifier in enumerate(identifiers):
            values = [(name, value) for name, value in identifier.items() if name.startswith("hashed")]
            values += [(name, value) for name, value in (identifier.get("addressInfo") or {}).items()
                       if name.startswith("hashed")]
            for name, value in values:
                tail = [{"fieldName": "user_identifiers", "index": position}, {"fieldName": _snake(name)}]
                if not _SHA256.match(value):
                    return "INVALID_SHA256_FORMAT", "The SHA256 encoded value is malformed.", tail
                if value in self.reject_values:
                    code, message = self.reject_values[value]
                    return code, message, tail
        return None

    def _run(self, version: str, job_name: str) -> Reply:
        with self.lock:
            job = self.jobs.get(job_name)
            if job is None:
                return _error_reply(404, "Requested entity was not found.", [], version)
            self.runs[job_name] += 1
            if job["status"] != "PENDING":
                return _error_reply(400, "Request contains an invalid argument.", [_ads_error(
                    {"offlineUserDataJobError": "INVALID_OPERATION_ORDER"}, "The job has already been run.")], version)
            members = self.user_lists[job["user_list"]]
            for kind, user_data in job["operations"]:
                if kind == "removeAll":
                    members.clear()
                    continue
                key = _member_key(user_data)
                if key is None:
                    continue
                if kind == "create":
                    members.add(key)
                else:
                    members.discard(key)
            job["status"] = "SUCCESS"
        return Reply(200, {"name": f"{job_name.split('/offlineUserDataJobs/')[0]}/operations/{uuid.uuid4().int % 10**12}"})

    def _search(self, incoming: Incoming) -> Reply:
        query = (incoming.json() or {}).get("query", "")
        match = re.search(r"offline_user_data_job\.resource_name\s*=\s*'([^']+)'", query)
        with self.lock:
            job = self.jobs.get(match.group(1)) if match else None
            rows = [{"offlineUserDataJob": {"resourceName": match.group(1), "status": job["status"]}}] if job else []
        return Reply(200, {"results": rows, "fieldMask": "offlineUserDataJob.status"})


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
