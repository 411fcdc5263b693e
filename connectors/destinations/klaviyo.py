"""Klaviyo: profiles through bulk import jobs, list membership, events.

Environment (prefix THROUGHLINE_KLAVIYO by default):
  API_KEY            secret private key, sent as ``Authorization: Klaviyo-API-Key``
  REVISION           API revision header, default 2026-07-15
  BASE_URL           default https://a.klaviyo.com
  JOB_POLL_INTERVAL  seconds between import-job polls, default 2
  JOB_TIMEOUT        seconds to wait for an import job, default 600
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations:
  upsert_profiles          email | phone | external_id, first_name, last_name, properties.
                           One bulk import job per 10,000 profiles / 5 MB; we poll the job
                           and read its import errors, so a bad profile comes back
                           REJECTED with Klaviyo's detail and the rest ACCEPTED.
  add_audience_members     the same job with a ``lists`` relationship (target = list id).
  remove_audience_members  email; profile ids found 100 at a time with
                           ``filter=any(email,[...])``, then removed 1000 per call.
  track_events             email | phone | external_id, event_name, occurred_at, value,
                           properties. Bulk create jobs of 1000; the record key is the
                           event ``unique_id``, so a resend is stored once.
Published rates (10/s burst, 150/min steady for each of these endpoints) are
paced per endpoint on the client side.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from connectors.base import (
    Capabilities,
    CheckResult,
    Destination,
    Operation,
    OperationLimits,
    RateLimit,
    Record,
    RecordResult,
    WriteResult,
    json_size,
    split_by_limits,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import (
    Explanation,
    HttpSettings,
    RateLimiter,
    TransientFailure,
    VendorHttpClient,
    deliver_with_partial_rejects,
    probe,
    settle,
)
from connectors.pii import InvalidIdentifier, e164
from connectors.redaction import get_logger
from connectors.registry import register

log = get_logger("connectors.klaviyo")

JSON_API = "application/vnd.api+json"
TIER_M = RateLimit(150, 60)  # "M": 10/s burst, 150/m steady; pacing at the steady rate honours both
TIER_L = RateLimit(700, 60)  # "L": 75/s burst, 700/m steady (get_profiles)
_PROFILE_LIMITS = OperationLimits(max_records=10_000, max_bytes=5 * 1024 * 1024, rate=TIER_M)
_PROFILE_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)")
_EVENT_POINTER = re.compile(r"^/data/attributes/events-bulk-create/data/(\d+)")
LOOKUP_CHUNK = 100  # values in one any(email,[...]) filter


@register
class KlaviyoDestination(Destination):
    name = "klaviyo"
    capabilities = Capabilities(
        operations={
            Operation.UPSERT_PROFILES: _PROFILE_LIMITS,
            Operation.ADD_AUDIENCE_MEMBERS: _PROFILE_LIMITS,
            Operation.REMOVE_AUDIENCE_MEMBERS: OperationLimits(max_records=1000, rate=TIER_M),
            Operation.TRACK_EVENTS: OperationLimits(max_records=1000, max_bytes=5 * 1024 * 1024, rate=TIER_M),
        },
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )

    def __init__(
        self,
        api_key: str,
        *,
        revision: str = "2026-07-15",
        base_url: str = "https://a.klaviyo.com",
        job_poll_interval: float = 2.0,
        job_timeout: float = 600.0,
        http: HttpSettings | None = None,
    ) -> None:
        self.job_poll_interval = job_poll_interval
        self.job_timeout = job_timeout
        self.client = VendorHttpClient(
            "klaviyo",
            base_url,
            http or HttpSettings(),
            headers={
                "Authorization": f"Klaviyo-API-Key {api_key}",
                "revision": revision,
                "Accept": JSON_API,
                "Content-Type": JSON_API,
            },
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> KlaviyoDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            reader.secret("API_KEY").reveal(),
            revision=reader.text("REVISION", "2026-07-15") or "",
            base_url=reader.text("BASE_URL", "https://a.klaviyo.com") or "",
            job_poll_interval=reader.number("JOB_POLL_INTERVAL", 2.0),
            job_timeout=reader.number("JOB_TIMEOUT", 600.0),
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/api/accounts")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"klaviyo answered HTTP {response.status_code} to an accounts lookup")
        return CheckResult(True, "klaviyo credentials accepted")

    def _limiter(self, endpoint: str, rate: RateLimit = TIER_M) -> RateLimiter:
        return self.client.limiter(endpoint, rate)

    # ------------------------------------------------------------ batching

    def batches(self, operation: Operation, records: Sequence[Record]) -> Iterator[Sequence[Record]]:
        limits = self.capabilities.limits(operation)
        if operation in (Operation.UPSERT_PROFILES, Operation.ADD_AUDIENCE_MEMBERS):
            return split_by_limits(records, limits.max_records, limits.max_bytes, lambda r: json_size(_profile(r)))
        if operation is Operation.TRACK_EVENTS:
            return split_by_limits(records, limits.max_records, limits.max_bytes, lambda r: json_size(_event(r)))
        return super().batches(operation, records)

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        if operation is Operation.TRACK_EVENTS:
            return self._track_events(records, result)
        if operation is Operation.REMOVE_AUDIENCE_MEMBERS:
            assert target is not None
            return self._remove_from_list(records, target, result)
        return self._import_profiles(records, target if operation is Operation.ADD_AUDIENCE_MEMBERS else None, result)

    # ------------------------------------------------------------ profiles

    def _import_profiles(
        self, records: Sequence[Record], list_id: str | None, tally: WriteResult
    ) -> list[RecordResult]:
        outcome: dict[str, RecordResult] = {}
        sendable: list[Record] = []
        for record in records:
            try:
                _profile(record)
            except InvalidIdentifier as invalid:
                outcome[record.key] = RecordResult.rejected(record.key, str(invalid))
                continue
            sendable.append(record)

        def send(pending: Sequence[Record]) -> requests.Response:
            data: dict[str, Any] = {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": [_profile(r) for r in pending]}},
            }
            if list_id:
                data["relationships"] = {"lists": {"data": [{"type": "list", "id": list_id}]}}
            return self.client.request(
                "POST",
                "/api/profile-bulk-import-jobs",
                json={"data": data},
                limiter=self._limiter("profile-bulk-import-jobs"),
                tally=tally,
            )

        def accept(pending: Sequence[Record], response: requests.Response) -> list[RecordResult]:
            job_id = response.json()["data"]["id"]
            return settle(pending, lambda: self._job_results(job_id, pending, tally))

        if sendable:
            for result in deliver_with_partial_rejects(sendable, send, accept, _explain(_PROFILE_POINTER)):
                outcome[result.key] = result
        return [outcome[record.key] for record in records]

    def _job_results(self, job_id: str, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        """Wait for the import job, then map its import errors back to records."""
        deadline = time.monotonic() + self.job_timeout
        limiter = self._limiter("profile-bulk-import-jobs-read")
        while True:
            response = self.client.request(
                "GET", f"/api/profile-bulk-import-jobs/{job_id}", limiter=limiter, tally=tally
            )
            if response.status_code >= 400:
                reason = _error_text(response)
                return [RecordResult.retryable(r.key, f"import job lookup failed: {reason}") for r in records]
            status = response.json()["data"]["attributes"]["status"]
            if status == "complete":
                break
            if status == "cancelled":
                return [RecordResult.retryable(r.key, "klaviyo cancelled the import job") for r in records]
            if time.monotonic() >= deadline:
                # Re-importing the same profiles is harmless, so hand them back.
                return [RecordResult.retryable(r.key, f"import job still {status}") for r in records]
            time.sleep(self.job_poll_interval)
        failed = self._import_errors(job_id, len(records), tally)
        return [
            RecordResult.rejected(r.key, failed[i], "invalid") if i in failed else RecordResult.accepted(r.key, job_id)
            for i, r in enumerate(records)
        ]

    def _import_errors(self, job_id: str, batch_size: int, tally: WriteResult) -> dict[int, str]:
        failed: dict[int, str] = {}
        url: str | None = f"/api/profile-bulk-import-jobs/{job_id}/import-errors"
        params: dict[str, Any] | None = {"page[size]": 100}
        limiter = self._limiter("profile-bulk-import-jobs-read")
        while url:
            response = self.client.request("GET", url, params=params, limiter=limiter, tally=tally)
            if response.status_code >= 400:
                raise TransientFailure(f"klaviyo import errors unavailable ({response.status_code})")
            body = response.json()
            for error in body.get("data", []):
                attributes = error.get("attributes", {})
                match = _PROFILE_POINTER.match(attributes.get("source", {}).get("pointer") or "")
                if match and int(match.group(1)) < batch_size:
                    failed[int(match.group(1))] = str(attributes.get("detail") or attributes.get("title"))
            url, params = body.get("links", {}).get("next"), None
        return failed

    def _remove_from_list(self, records: Sequence[Record], list_id: str, tally: WriteResult) -> list[RecordResult]:
        def remove() -> list[RecordResult]:
            emails = [str(r.get("email", "")).strip().lower() for r in records]
            ids: dict[str, str] = {}
            lookup = sorted({e for e in emails if e})
            for start in range(0, len(lookup), LOOKUP_CHUNK):
                chunk = lookup[start : start + LOOKUP_CHUNK]
                response = self.client.request(
                    "GET",
                    "/api/profiles",
                    params={"filter": f"any(email,{json.dumps(chunk)})", "page[size]": LOOKUP_CHUNK},
                    limiter=self._limiter("profiles", TIER_L),
                    tally=tally,
                )
                if response.status_code >= 400:
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in records]
                for profile in response.json().get("data", []):
                    email = (profile.get("attributes", {}).get("email") or "").lower()
                    ids[email] = profile["id"]
            if ids:
                response = self.client.request(
                    "DELETE",
                    f"/api/lists/{list_id}/relationships/profiles",
                    json={"data": [{"type": "profile", "id": pid} for pid in sorted(set(ids.values()))]},
                    limiter=self._limiter("list-relationships"),
                    tally=tally,
                )
                if response.status_code >= 400:
                    reason = _error_text(response)
                    return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in records]
            # A profile Klaviyo does not know is not on the list: nothing to remove.
            return [RecordResult.accepted(r.key) for r in records]

        return settle(records, remove)

    # ------------------------------------------------------------ events

    def _track_events(self, records: Sequence[Record], tally: WriteResult) -> list[RecordResult]:
        outcome: dict[str, RecordResult] = {}
        sendable: list[Record] = []
        for record in records:
            if not record.get("event_name"):
                outcome[record.key] = RecordResult.rejected(record.key, "record has no event_name")
                continue
            try:
                _event(record)
            except InvalidIdentifier as invalid:
                outcome[record.key] = RecordResult.rejected(record.key, str(invalid))
                continue
            sendable.append(record)

        def send(pending: Sequence[Record]) -> requests.Response:
            body = {
                "data": {
                    "type": "event-bulk-create-job",
                    "attributes": {"events-bulk-create": {"data": [_event(r) for r in pending]}},
                }
            }
            return self.client.request(
                "POST",
                "/api/event-bulk-create-jobs",
                json=body,
                limiter=self._limiter("event-bulk-create-jobs"),
                tally=tally,
            )

        def accept(pending: Sequence[Record], response: requests.Response) -> list[RecordResult]:
            return [RecordResult.accepted(r.key) for r in pending]

        if sendable:
            for result in deliver_with_partial_rejects(sendable, send, accept, _explain(_EVENT_POINTER)):
                outcome[result.key] = result
        return [outcome[record.key] for record in records]


def _identity(record: Record) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if record.get("email"):
        attributes["email"] = str(record.get("email")).strip()
    if record.get("phone"):
        attributes["phone_number"] = e164(str(record.get("phone")))
    if record.get("external_id"):
        attributes["external_id"] = str(record.get("external_id"))
    if not attributes:
        raise InvalidIdentifier("record has no email, phone or external_id")
    return attributes


def _profile(record: Record) -> dict[str, Any]:
    attributes = _identity(record)
    for name in ("first_name", "last_name"):
        if record.get(name):
            attributes[name] = str(record.get(name))
    if record.get("properties"):
        attributes["properties"] = dict(record.get("properties"))
    return {"type": "profile", "attributes": attributes}


def _event(record: Record) -> dict[str, Any]:
    event: dict[str, Any] = {
        "properties": dict(record.get("properties", {})),
        "metric": {"data": {"type": "metric", "attributes": {"name": str(record.get("event_name"))}}},
        "unique_id": record.key,
    }
    if record.get("occurred_at"):
        event["time"] = str(record.get("occurred_at"))
    if record.get("value") is not None:
        event["value"] = float(record.get("value"))
    return {
        "type": "event-bulk-create",
        "attributes": {
            "profile": {"data": {"type": "profile", "attributes": _identity(record)}},
            "events": {"data": [{"type": "event", "attributes": event}]},
        },
    }


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_text(response: requests.Response) -> str:
    details = [str(e.get("detail") or e.get("title")) for e in _errors(response)]
    return "; ".join(details) or f"HTTP {response.status_code}"


def _explain(pointer_pattern: re.Pattern[str]) -> Any:
    def explain(response: requests.Response, batch_size: int) -> Explanation:
        named: dict[int, tuple[str, str | None]] = {}
        for error in _errors(response):
            match = pointer_pattern.match(str((error.get("source") or {}).get("pointer") or ""))
            if match:
                named.setdefault(int(match.group(1)), (str(error.get("detail")), error.get("code")))
        return named, _error_text(response)

    return explain
