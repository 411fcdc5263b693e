"""Google Ads Customer Match: user list membership through OfflineUserDataJobService.

Environment (prefix THROUGHLINE_GOOGLE_ADS by default):
  DEVELOPER_TOKEN    secret, sent as the ``developer-token`` header
  ACCESS_TOKEN       secret OAuth 2.0 access token (``Authorization: Bearer``),
                     minted by the deployment's secret manager
  CUSTOMER_ID        the account that owns the user lists (digits, dashes allowed)
  LOGIN_CUSTOMER_ID  optional manager account, sent as ``login-customer-id``
  API_VERSION        default v26
  BASE_URL           default https://googleads.googleapis.com
  DEFAULT_REGION     region for phone numbers without a country code, default US
  REQUEST_MAX_IDENTIFIERS  user identifiers per addOperations request, default
                     100,000 (Google's maximum; it recommends 10,000 for speed)
  JOB_MAX_RECORDS    records per job, default 250,000
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations (target = user list id, or its resource name):
  add_audience_members     job of ``create`` operations
  remove_audience_members  job of ``remove`` operations (Google refuses both in one job)
Records: email, phone, first_name + last_name + country_code + postal_code.
Each becomes one operation whose ``userIdentifiers`` are hashedEmail,
hashedPhoneNumber and addressInfo, normalised and SHA-256 hashed per Google's
rules (connectors.pii). A record with none is REJECTED without a request.

Per job (one framework batch): ``offlineUserDataJobs:create`` (type
CUSTOMER_MATCH_USER_LIST, ``customerMatchUserListMetadata.userList``), then
``:addOperations`` with ``enablePartialFailure: true`` in chunks of at most
REQUEST_MAX_IDENTIFIERS identifiers, then ``:run``. A ``partialFailureError``
names operations by index (``fieldPathElements`` ``operations[i]``); those
records are REJECTED with Google's message and error code, the rest ACCEPTED
(vendor id = the job) once the job runs. Creating a job and adding operations
are safe to resend (an orphan job expires, membership is a set); ``:run`` is
not resent blindly: after a lost answer the job's status is read with
GoogleAdsService search and the run repeated only while it is still PENDING.
RESOURCE_EXHAUSTED answers carry ``retryDelay``, honoured by the HTTP layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from connectors.base import (
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    Operation,
    OperationLimits,
    Record,
    RecordResult,
    WriteResult,
    chunked,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import (
    HttpSettings,
    OutcomeUnknown,
    TransientFailure,
    VendorHttpClient,
    google_retry_delay_signal,
    probe,
)
from connectors.pii import InvalidIdentifier, Platform, hash_identifier
from connectors.registry import register

MAX_REQUEST_IDENTIFIERS = 100_000  # "at most 100,000 user identifiers per request"
MAX_OPERATION_IDENTIFIERS = 20  # per UserData
_OPERATION_INDEX = re.compile(r"^operations$")
_LIMITS = OperationLimits(max_records=250_000)


@register
class GoogleAdsCustomerMatchDestination(Destination):
    name = "google_ads"
    capabilities = Capabilities(
        operations={Operation.ADD_AUDIENCE_MEMBERS: _LIMITS, Operation.REMOVE_AUDIENCE_MEMBERS: _LIMITS},
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(
        self,
        developer_token: str,
        access_token: str,
        customer_id: str,
        *,
        login_customer_id: str | None = None,
        api_version: str = "v26",
        base_url: str = "https://googleads.googleapis.com",
        default_region: str = "US",
        request_max_identifiers: int = MAX_REQUEST_IDENTIFIERS,
        job_max_records: int = _LIMITS.max_records,
        http: HttpSettings | None = None,
    ) -> None:
        self.customer_id = customer_id.replace("-", "")
        if not self.customer_id.isdigit():
            raise ConfigurationError("google_ads: CUSTOMER_ID must be digits")
        self.api_version = api_version
        self.default_region = default_region
        self.request_max_identifiers = request_max_identifiers
        self.job_max_records = job_max_records
        headers = {"Authorization": f"Bearer {access_token}", "developer-token": developer_token}
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id.replace("-", "")
        self.client = VendorHttpClient(
            "google_ads", base_url, http or HttpSettings(), headers=headers, body_signals=(google_retry_delay_signal,)
        )
        self.limiter = self.client.limiter("offline_user_data_jobs", None)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, prefix: str | None = None
    ) -> GoogleAdsCustomerMatchDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.secret("DEVELOPER_TOKEN").reveal(),
            reader.secret("ACCESS_TOKEN").reveal(),
            reader.required("CUSTOMER_ID"),
            login_customer_id=reader.text("LOGIN_CUSTOMER_ID"),
            api_version=reader.text("API_VERSION", "v26") or "v26",
            base_url=reader.text("BASE_URL", "https://googleads.googleapis.com") or "",
            default_region=reader.text("DEFAULT_REGION", "US") or "US",
            request_max_identifiers=reader.integer("REQUEST_MAX_IDENTIFIERS", MAX_REQUEST_IDENTIFIERS),
            job_max_records=reader.integer("JOB_MAX_RECORDS", _LIMITS.max_records),
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", f"/{self.api_version}/customers:listAccessibleCustomers")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"google_ads answered HTTP {response.status_code} to listAccessibleCustomers")
        return CheckResult(True, "google ads credentials accepted")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        return chunked(records, self.job_max_records)

    # ------------------------------------------------------------ one job per batch

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        assert target is not None
        user_list = target if target.startswith("customers/") else f"customers/{self.customer_id}/userLists/{target}"
        kind = "create" if operation is Operation.ADD_AUDIENCE_MEMBERS else "remove"
        outcome: dict[int, RecordResult] = {}
        pending: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            identifiers, problem = self._identifiers(record)
            if identifiers:
                pending.append((index, {kind: {"userIdentifiers": identifiers}}))
            else:
                outcome[index] = RecordResult.rejected(record.key, problem, "no_identifier")
        if pending:
            self._run_job(user_list, records, pending, outcome, result)
        return [outcome[index] for index in range(len(records))]

    def _run_job(
        self,
        user_list: str,
        records: Sequence[Record],
        pending: list[tuple[int, dict[str, Any]]],
        outcome: dict[int, RecordResult],
        tally: WriteResult,
    ) -> None:
        def settle_all(indexes: Iterable[int], make: Any) -> None:
            for index in indexes:
                outcome[index] = make(records[index].key)

        everyone = [index for index, _ in pending]
        try:
            response = self._post(f"/customers/{self.customer_id}/offlineUserDataJobs:create", tally, {
                "job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata": {"userList": user_list}},
            })
        except TransientFailure as failure:
            settle_all(everyone, lambda key: RecordResult.retryable(key, failure.reason))
            return
        if response.status_code >= 400:
            reason, code = _google_error(response)
            settle_all(everyone, lambda key: RecordResult.rejected(key, reason, code))
            return
        job = response.json()["resourceName"]
        added: list[int] = []
        for chunk in self._request_chunks(pending):
            body = {"enablePartialFailure": True, "operations": [operation for _, operation in chunk]}
            indexes = [index for index, _ in chunk]
            try:
                response = self._post(f"/{job}:addOperations", tally, body)
            except TransientFailure as failure:
                settle_all(indexes, lambda key: RecordResult.retryable(key, failure.reason))
                continue
            if response.status_code >= 400:
                reason, code = _google_error(response)
                settle_all(indexes, lambda key: RecordResult.rejected(key, reason, code))
                continue
            failed = _partial_failures(response.json().get("partialFailureError"))
            for position, index in enumerate(indexes):
                if position in failed:
                    reason, code = failed[position]
                    outcome[index] = RecordResult.rejected(records[index].key, reason, code)
                else:
                    added.append(index)
        if not added:
            return
        verdict = self._run(job, tally)
        for index in added:
            key = records[index].key
            if verdict is None:
                outcome[index] = RecordResult.accepted(key, job)
            elif verdict[0] == "retryable":
                outcome[index] = RecordResult.retryable(key, verdict[1])
            elif verdict[0] == "unknown":
                outcome[index] = RecordResult.unknown(key, verdict[1])
            else:
                outcome[index] = RecordResult.rejected(key, verdict[1], verdict[2] if len(verdict) > 2 else None)

    def _run(self, job: str, tally: WriteResult) -> tuple[str, ...] | None:
        """Start the job; None when it runs. A lost answer is settled by reading
        the job's status rather than by running it twice."""
        for _ in range(3):
            try:
                response = self.client.request(
                    "POST", f"/{self.api_version}/{job}:run", json={}, idempotent=False, limiter=self.limiter,
                    tally=tally,
                )
            except TransientFailure as failure:
                return ("retryable", f"job not started: {failure.reason}")
            except OutcomeUnknown as unknown:
                status = self._job_status(job, tally)
                if status in ("RUNNING", "SUCCESS"):
                    return None
                if status == "PENDING":
                    continue
                return ("unknown", f"{unknown.reason}; job status {status or 'unreadable'}")
            if response.status_code >= 400:
                reason, code = _google_error(response)
                return ("rejected", reason, code)
            return None
        return ("unknown", "job run could not be confirmed")

    def _job_status(self, job: str, tally: WriteResult) -> str | None:
        query = f"SELECT offline_user_data_job.status FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{job}'"
        try:
            response = self._post(f"/customers/{self.customer_id}/googleAds:search", tally, {"query": query})
        except (TransientFailure, OutcomeUnknown):
            return None
        if response.status_code != 200:
            return None
        rows = response.json().get("results") or []
        return rows[0].get("offlineUserDataJob", {}).get("status") if rows else None

    def _post(self, path: str, tally: WriteResult, body: dict[str, Any]) -> requests.Response:
        return self.client.request(
            "POST", f"/{self.api_version}{path}", json=body, limiter=self.limiter, tally=tally
        )

    def _request_chunks(
        self, pending: list[tuple[int, dict[str, Any]]]
    ) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        chunk: list[tuple[int, dict[str, Any]]] = []
        count = 0
        for item in pending:
            size = len(next(iter(item[1].values()))["userIdentifiers"])
            if chunk and count + size > self.request_max_identifiers:
                yield chunk
                chunk, count = [], 0
            chunk.append(item)
            count += size
        if chunk:
            yield chunk

    def _identifiers(self, record: Record) -> tuple[list[dict[str, Any]], str]:
        identifiers: list[dict[str, Any]] = []
        problems = []
        for field, name in (("email", "hashedEmail"), ("phone", "hashedPhoneNumber")):
            if record.get(field):
                try:
                    identifiers.append(
                        {name: hash_identifier(field, str(record.get(field)), Platform.GOOGLE, self.default_region)}
                    )
                except InvalidIdentifier as invalid:
                    problems.append(f"{field}: {invalid}")
        first, last = record.get("first_name"), record.get("last_name")
        country, postal = record.get("country_code"), record.get("postal_code")
        if first and last and country and postal:
            identifiers.append({"addressInfo": {
                "hashedFirstName": hash_identifier("first_name", str(first), Platform.GOOGLE),
                "hashedLastName": hash_identifier("last_name", str(last), Platform.GOOGLE),
                "countryCode": str(country).strip().upper(),
                "postalCode": str(postal).strip(),
            }})
        problem = "no usable identifier" + (f" ({'; '.join(problems)})" if problems else "")
        return identifiers[:MAX_OPERATION_IDENTIFIERS], problem


def _google_error(response: requests.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return f"HTTP {response.status_code}", str(response.status_code)
    failures = [e for d in error.get("details", []) if isinstance(d, dict) for e in d.get("errors", [])]
    if failures:
        first = failures[0]
        return str(first.get("message")), _error_code(first.get("errorCode"))
    return str(error.get("message") or f"HTTP {response.status_code}"), str(error.get("status") or response.status_code)


def _error_code(code: Any) -> str:
    # {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"} -> the enum value
    return str(next(iter(code.values()))) if isinstance(code, dict) and code else "UNKNOWN"


def _partial_failures(status: Any) -> dict[int, tuple[str, str]]:
    """Operation index -> (message, error code) from a google.rpc.Status whose
    details hold GoogleAdsFailure errors located at ``operations[i]``."""
    failed: dict[int, tuple[str, str]] = {}
    if not isinstance(status, dict):
        return failed
    for detail in status.get("details", []):
        for error in detail.get("errors", []) if isinstance(detail, dict) else []:
            elements = (error.get("location") or {}).get("fieldPathElements") or []
            if elements and _OPERATION_INDEX.match(str(elements[0].get("fieldName"))) and "index" in elements[0]:
                failed.setdefault(int(elements[0]["index"]), (str(error.get("message")), _error_code(error.get("errorCode"))))
    return failed
