"""Generic webhook: JSON batches to any URL, signed with HMAC-SHA256.

Environment (prefix THROUGHLINE_WEBHOOK by default; one prefix per endpoint):
  URL             where batches are POSTed
  SECRET          signing secret (see connectors.webhook_signing)
  HEADERS         optional JSON object of extra headers (e.g. a bearer token)
  BATCH_SIZE      records per request, default 100
  MAX_BATCH_BYTES default 5 MB
  RATE_PER_SECOND optional pacing (the receiver's capacity)
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Body: ``{"batch_id", "operation", "target", "sent_at", "records": [{"key", "fields"}]}``.
The batch id is derived from the operation, target and record keys, and sent
as ``Idempotency-Key``: a resent batch is recognisable, so every request is
safe to retry. A receiver answers 2xx, optionally with
``{"results": [{"key", "status": "rejected", "reason"}]}`` for refused records;
records not listed are accepted. Every operation is supported: what a record
means is up to the receiver.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.base import (
    AuthenticationError,
    Capabilities,
    CheckResult,
    Destination,
    Operation,
    OperationLimits,
    Record,
    RecordResult,
    WriteResult,
    json_size,
    split_by_limits,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, TransientFailure, VendorHttpClient, settle
from connectors.redaction import register_secret
from connectors.registry import register
from connectors.webhook_signing import IDEMPOTENCY_HEADER, signed_headers


@register
class WebhookDestination(Destination):
    name = "webhook"
    capabilities = Capabilities(
        operations={operation: OperationLimits(max_records=100, max_bytes=5 * 1024 * 1024) for operation in Operation}
    )

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        max_batch_bytes: int = 5 * 1024 * 1024,
        http: HttpSettings | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes
        self.client = VendorHttpClient("webhook", url, http or HttpSettings(), headers=dict(headers or {}))
        self.limiter = self.client.limiter("webhook", None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> WebhookDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        extra_headers = {str(k): str(v) for k, v in reader.json_object("HEADERS").items()}
        for value in extra_headers.values():
            register_secret(value)  # extra header values are usually credentials
        return cls(
            reader.required("URL"),
            reader.secret("SECRET").reveal(),
            headers=extra_headers,
            batch_size=reader.integer("BATCH_SIZE", 100),
            max_batch_bytes=reader.integer("MAX_BATCH_BYTES", 5 * 1024 * 1024),
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        """Sends an empty signed batch: receivers treat it as a no-op."""
        try:
            response = self._post(Operation.UPSERT_PROFILES, None, [], None)
        except (AuthenticationError, TransientFailure) as error:
            return CheckResult(False, str(error))
        if response.status_code >= 300:
            return CheckResult(False, f"webhook answered HTTP {response.status_code} to an empty batch")
        return CheckResult(True, "webhook accepted a signed empty batch")

    def batches(self, operation: Operation, records: Sequence[Record]) -> Iterator[Sequence[Record]]:
        return split_by_limits(records, self.batch_size, self.max_batch_bytes, lambda r: json_size(_item(r)))

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        def send() -> list[RecordResult]:
            response = self._post(operation, target, records, result)
            if response.status_code >= 300:
                reason = _error_text(response)
                return [RecordResult.rejected(r.key, reason, str(response.status_code)) for r in records]
            refused = _refused(response)
            return [
                RecordResult.rejected(r.key, refused[r.key]) if r.key in refused else RecordResult.accepted(r.key)
                for r in records
            ]

        return settle(records, send)

    def _post(
        self, operation: Operation, target: str | None, records: Sequence[Record], tally: WriteResult | None
    ) -> requests.Response:
        batch_id = _batch_id(operation, target, records)
        body = json.dumps(
            {
                "batch_id": batch_id,
                "operation": operation.value,
                "target": target,
                "sent_at": datetime.now(UTC).isoformat(),
                "records": [_item(r) for r in records],
            },
            separators=(",", ":"),
            default=str,
        ).encode("utf-8")
        # One signature per call: its retries resend identical bytes, well within
        # the receiver's replay tolerance unless a throttle asks for minutes.
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: batch_id}
        headers.update(signed_headers(self._secret, body))
        return self.client.request("POST", self.url, data=body, headers=headers, limiter=self.limiter, tally=tally)


def _item(record: Record) -> dict[str, Any]:
    return {"key": record.key, "fields": dict(record.fields)}


def _batch_id(operation: Operation, target: str | None, records: Sequence[Record]) -> str:
    digest = hashlib.sha256()
    for part in (operation.value, target or "", *(r.key for r in records)):
        digest.update(part.encode("utf-8") + b"\x00")
    return digest.hexdigest()[:32]


def _refused(response: requests.Response) -> dict[str, str]:
    try:
        body = response.json()
    except ValueError:
        return {}
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return {}
    return {
        str(item["key"]): str(item.get("reason") or "rejected by receiver")
        for item in results
        if isinstance(item, dict) and item.get("status") == "rejected" and "key" in item
    }


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return f"HTTP {response.status_code}"
