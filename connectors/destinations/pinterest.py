"""Pinterest customer lists (API v5): add and remove the people behind a CUSTOMER_LIST audience.

Environment (prefix THROUGHLINE_PINTEREST by default):
  ACCESS_TOKEN   secret: an OAuth token with the ads:write scope
  AD_ACCOUNT_ID  the ad account that owns the lists
  BASE_URL       default https://api.pinterest.com
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations (target = the customer list id):
  add_audience_members     PATCH /v5/ad_accounts/{ad_account_id}/customer_lists/{id}, operation_type ADD
  remove_audience_members  the same, operation_type REMOVE
``create_list(name, records)`` makes a new EMAIL list (POST .../customer_lists) and returns its id.
Records carry email, which leaves only as a SHA-256 hex digest of the trimmed, lower-cased
address (connectors.pii, Platform.PINTEREST; a warehouse digest passes through). A record
without a usable email is REJECTED without a request. Records go comma-separated, at most
10,000 a request (Pinterest publishes no number; this keeps a request near 650 KB).

Pinterest answers with the list's counters, never per record: a 200 ACCEPTS the batch, a 4xx
REJECTS it with Pinterest's ``message`` and ``code``. Re-adding or re-removing changes nothing,
so a request may be resent after a lost answer. The endpoints are in the ads_write category,
400 requests a minute per user per app (paced here); a 429 (code 8) is retried, honouring
Retry-After when sent. A 401 (code 2) or 403 (code 29) raises ``AuthenticationError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from connectors.base import (Capabilities, CheckResult, ConfigurationError, Destination, Operation, OperationLimits,
                             RateLimit, Record, RecordResult, RecordStatus, WriteResult, chunked)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, json_object, probe, settle
from connectors.pii import Platform, hash_column
from connectors.registry import register

MAX_RECORDS = 10_000
ADS_WRITE_RATE = RateLimit(400, 60)  # per user per app, Standard access
_LIMITS = OperationLimits(max_records=MAX_RECORDS, rate=ADS_WRITE_RATE)
_OPERATION_TYPES = {Operation.ADD_AUDIENCE_MEMBERS: "ADD", Operation.REMOVE_AUDIENCE_MEMBERS: "REMOVE"}
_JSON = {"Content-Type": "application/json"}


class HashedBatch(list):  # type: ignore[type-arg]
    """One request's records with their digests (hashed while the previous request is on the
    wire), the index of each sent record and the results of those that cannot be sent."""

    def __init__(self, records: Sequence[Record], digests: list[str], sent: list[int],
                 local: dict[int, RecordResult]) -> None:
        super().__init__(records)
        self.digests, self.sent, self.local = digests, sent, local


def hash_batch(records: Sequence[Record]) -> HashedBatch:
    emails = [record.fields.get("email") for record in records]
    digests, sent, invalid = hash_column("email", emails, Platform.PINTEREST)
    local = {}
    if len(sent) < len(records):
        for index in set(range(len(records))).difference(sent):
            why = invalid.get(index, "no email")
            local[index] = RecordResult.rejected(records[index].key, f"no usable identifier (email: {why})",
                                                 "no_identifier")
    return HashedBatch(records, digests, sent, local)


@register
class PinterestDestination(Destination):
    name = "pinterest"
    capabilities = Capabilities(
        operations={Operation.ADD_AUDIENCE_MEMBERS: _LIMITS, Operation.REMOVE_AUDIENCE_MEMBERS: _LIMITS},
        needs_target=frozenset(_OPERATION_TYPES),
    )
    hashes_identifiers = Platform.PINTEREST

    def __init__(self, access_token: str, ad_account_id: str, *, base_url: str = "https://api.pinterest.com",
                 http: HttpSettings | None = None) -> None:
        if not ad_account_id.isdigit():
            raise ConfigurationError("pinterest: AD_ACCOUNT_ID must be the numeric ad account id")
        self.ad_account_id = ad_account_id
        self.client = VendorHttpClient("pinterest", base_url, http or HttpSettings(),
                                       headers={"Authorization": f"Bearer {access_token}"})
        self.limiter = self.client.limiter("ads_write", ADS_WRITE_RATE)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> PinterestDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(reader.secret("ACCESS_TOKEN").reveal(), reader.required("AD_ACCOUNT_ID"),
                   base_url=reader.text("BASE_URL", "https://api.pinterest.com") or "", http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", f"/v5/ad_accounts/{self.ad_account_id}")
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"pinterest answered HTTP {response.status_code}: {_reason(response)[0]}")
        return CheckResult(True, "pinterest token accepted for the ad account")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        return (hash_batch(chunk) for chunk in chunked(records, MAX_RECORDS))

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        batch = records if isinstance(records, HashedBatch) else hash_batch(records)
        sent = [records[index] for index in batch.sent] if batch.local else records
        body = {"operation_type": _OPERATION_TYPES[operation], "records": ",".join(batch.digests)}

        def send() -> list[RecordResult]:
            response = self.client.request(
                "PATCH", f"/v5/ad_accounts/{self.ad_account_id}/customer_lists/{target}", data=orjson.dumps(body),
                headers=_JSON, limiter=self.limiter, tally=result)
            if response.status_code >= 400:
                return RecordResult.for_keys([record.key for record in sent], RecordStatus.REJECTED, *_reason(response))
            list_id = str(json_object(response).get("id") or target)
            return RecordResult.for_keys([record.key for record in sent], RecordStatus.ACCEPTED, vendor_id=list_id)

        answers = settle(sent, send) if sent else []
        if not batch.local:
            return answers
        outcome = dict(batch.local)
        outcome.update(zip(batch.sent, answers, strict=True))
        return [outcome[index] for index in range(len(records))]

    def create_list(self, name: str, records: Iterable[Record]) -> str:
        """A new EMAIL customer list holding ``records`` (Pinterest needs at least one); its id.
        Records past the first request's 10,000 are added to it with ``write``."""
        everything = list(records)
        batch = hash_batch(everything[:MAX_RECORDS])
        if not batch.digests:
            raise ConfigurationError("pinterest: a customer list is created with at least one usable email")
        response = self.client.request(
            "POST", f"/v5/ad_accounts/{self.ad_account_id}/customer_lists", headers=_JSON, limiter=self.limiter,
            data=orjson.dumps({"name": name, "records": ",".join(batch.digests), "list_type": "EMAIL"}))
        if response.status_code >= 400:
            raise ConfigurationError(f"pinterest refused the new customer list: {_reason(response)[0]}")
        list_id = str(json_object(response)["id"])
        if len(everything) > MAX_RECORDS:
            self.write(Operation.ADD_AUDIENCE_MEMBERS, everything[MAX_RECORDS:], target=list_id)
        return list_id


def _reason(response: Any) -> tuple[str, str]:
    body = json_object(response)
    return str(body.get("message") or f"HTTP {response.status_code}"), str(body.get("code") or response.status_code)
