"""Snap Audience Match (customer-list segments): add and remove members.

Environment (prefix THROUGHLINE_SNAP by default):
  ACCESS_TOKEN     secret: an OAuth2 access token (scope snapchat-marketing-api); or instead
  CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN  secrets of the refresh-token flow: a token is fetched
                   at first use and again once when Snap answers 401 (access tokens expire)
  TOKEN_URL        default https://accounts.snapchat.com/login/oauth2/access_token
  BASE_URL         default https://adsapi.snapchat.com
  DEFAULT_REGION   region for phone numbers written without a country code, default US
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations (target = the segment id):
  add_audience_members     POST   /v1/segments/{segment_id}/users
  remove_audience_members  DELETE /v1/segments/{segment_id}/users
Records carry any of email, phone, mobile_ad_id (or idfa / gaid). Each is normalised and
SHA-256 hashed by Snap's rules (connectors.pii) before it leaves. Snap takes one schema per
request ({"users": [{"schema": ["EMAIL_SHA256"], "data": [[hash], ...]}]}), so a batch of at
most 100,000 records becomes one request per identifier kind present. A record is ACCEPTED
when one of its identifiers was taken, REJECTED (Snap's reason, or ours when no identifier
could be normalised) when none was. Adding or removing the same hashes again changes
nothing, so every request may be resent.
Published limits: 10 requests/s per access token (20/s per app); over it, HTTP 429, with no
Retry-After documented: the HTTP layer backs off.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import requests

from connectors.base import (AuthenticationError, Capabilities, CheckResult, ConfigurationError, Destination,
                             Operation, OperationLimits, RateLimit, Record, RecordResult, RecordStatus, WriteResult,
                             chunked)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, json_object, probe, settle
from connectors.pii import Platform, hash_column
from connectors.registry import register

MAX_IDENTIFIERS = 100_000  # per request
TOKEN_RATE = RateLimit(10, 1.0)  # per access token; the app as a whole: 20/s
TOKEN_URL = "https://accounts.snapchat.com/login/oauth2/access_token"
# schema -> the record fields that fill it, in order of preference
SCHEMAS = {"EMAIL_SHA256": ("email",), "PHONE_SHA256": ("phone",), "MOBILE_AD_ID_SHA256": ("mobile_ad_id", "idfa", "gaid")}
_LIMITS = OperationLimits(max_records=MAX_IDENTIFIERS, rate=TOKEN_RATE)
_ORDER = {RecordStatus.RETRYABLE: 0, RecordStatus.UNKNOWN: 1, RecordStatus.ACCEPTED: 2, RecordStatus.REJECTED: 3}


class HashedBatch(list):  # type: ignore[type-arg]
    """One batch's records plus, per schema, the request body and the batch index of each digest in it."""

    def __init__(self, records: Sequence[Record], groups: dict[str, tuple[bytes, list[int]]],
                 problems: dict[int, str]) -> None:
        super().__init__(records)
        self.groups, self.problems = groups, problems


@register
class SnapAudienceMatchDestination(Destination):
    name = "snap"
    capabilities = Capabilities(
        operations={Operation.ADD_AUDIENCE_MEMBERS: _LIMITS, Operation.REMOVE_AUDIENCE_MEMBERS: _LIMITS},
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )
    hashes_identifiers = Platform.SNAP

    def __init__(self, access_token: str | None = None, *, refresh: tuple[str, str, str] | None = None,
                 token_url: str = TOKEN_URL, base_url: str = "https://adsapi.snapchat.com",
                 default_region: str = "US", http: HttpSettings | None = None) -> None:
        if not access_token and not refresh:
            raise ConfigurationError("snap: set ACCESS_TOKEN, or CLIENT_ID, CLIENT_SECRET and REFRESH_TOKEN")
        self._token, self._refresh, self.token_url = access_token, refresh, token_url
        self.default_region = default_region
        self.client = VendorHttpClient("snap", base_url, http or HttpSettings())
        self.limiter = self.client.limiter("access-token", TOKEN_RATE)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> SnapAudienceMatchDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        refresh = None
        if reader.text("REFRESH_TOKEN"):
            refresh = (reader.required("CLIENT_ID"), reader.secret("CLIENT_SECRET").reveal(),
                       reader.secret("REFRESH_TOKEN").reveal())
        token = reader.secret("ACCESS_TOKEN").reveal() if reader.text("ACCESS_TOKEN") or not refresh else None
        return cls(token, refresh=refresh, token_url=reader.text("TOKEN_URL", TOKEN_URL) or TOKEN_URL,
                   base_url=reader.text("BASE_URL", "https://adsapi.snapchat.com") or "",
                   default_region=reader.text("DEFAULT_REGION", "US") or "US", http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        try:
            response, problem = probe(self.client, "GET", "/v1/me", headers=self._headers(None))
        except AuthenticationError as error:
            return CheckResult(False, str(error))
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"snap answered HTTP {response.status_code} to /v1/me")
        return CheckResult(True, "snap access token accepted")

    # ------------------------------------------------------------ auth

    def _headers(self, tally: WriteResult | None) -> dict[str, str]:
        if self._token is None:
            self._renew(tally)
        return {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}

    def _renew(self, tally: WriteResult | None) -> None:
        if self._refresh is None:
            raise AuthenticationError("snap rejected the configured access token; set a fresh ACCESS_TOKEN "
                                      "or the refresh-token variables")
        client_id, secret, refresh_token = self._refresh
        form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": secret,
                "refresh_token": refresh_token}
        response = self.client.request("POST", self.token_url, data=form, tally=tally)
        token = json_object(response).get("access_token") if response.status_code == 200 else None
        if not token:
            error = json_object(response).get("error") or f"HTTP {response.status_code}"
            raise AuthenticationError(f"snap refused the refresh token ({error}); check CLIENT_ID, CLIENT_SECRET "
                                      "and REFRESH_TOKEN")
        self._token = str(token)

    def _request(self, method: str, path: str, body: bytes, tally: WriteResult) -> requests.Response:
        try:
            return self.client.request(method, path, data=body, headers=self._headers(tally), limiter=self.limiter,
                                       tally=tally)
        except AuthenticationError:
            if self._refresh is None:
                raise
            self._token = None  # expired: one new token, one more try
            return self.client.request(method, path, data=body, headers=self._headers(tally), limiter=self.limiter,
                                       tally=tally)

    # ------------------------------------------------------------ batches

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        # hashed here, so the next batch is hashed while the previous one is on the wire
        return (self._hash(batch) for batch in chunked(records, MAX_IDENTIFIERS))

    def _hash(self, records: Sequence[Record]) -> HashedBatch:
        groups: dict[str, tuple[bytes, list[int]]] = {}
        problems: dict[int, str] = {}
        for schema, fields in SCHEMAS.items():
            column = [record.fields.get(fields[0]) for record in records]  # a column at a time: no per-field loop
            for alternative in fields[1:]:
                column = [value or record.fields.get(alternative) for value, record in zip(column, records)]
            if not any(column):
                continue
            digests, indexes, invalid = hash_column(fields[0], column, Platform.SNAP, self.default_region)
            for index, why in invalid.items():
                earlier = f"{problems[index]}; " if index in problems else ""
                problems[index] = f"{earlier}{fields[0]}: {why}"
            if digests:
                groups[schema] = (_body(schema, digests), indexes)
        return HashedBatch(records, groups, problems)

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        batch = records if isinstance(records, HashedBatch) else self._hash(records)
        method = "POST" if operation is Operation.ADD_AUDIENCE_MEMBERS else "DELETE"
        answered: list[tuple[list[int], list[RecordResult]]] = []
        for schema, (body, indexes) in batch.groups.items():
            sent = [batch[i] for i in indexes]
            answered.append((indexes, settle(sent, lambda: _read(
                self._request(method, f"/v1/segments/{target}/users", body, result), sent, schema))))
        if len(answered) == 1 and len(answered[0][0]) == len(batch):
            return answered[0][1]  # the usual batch: one kind of identifier, on every record
        best: dict[int, RecordResult] = {}
        for indexes, answers in answered:
            for index, answer in zip(indexes, answers, strict=True):
                if index not in best or _ORDER[answer.status] < _ORDER[best[index].status]:
                    best[index] = answer
        why = batch.problems
        return [best.get(i) or RecordResult.rejected(r.key, "no usable identifier" + (f" ({why[i]})" if i in why else ""),
                                                    "no_identifier") for i, r in enumerate(batch)]


def _body(schema: str, digests: list[str]) -> bytes:
    """{"users": [{"schema": [schema], "data": [[digest], ...]}]}, joined as text: the digests are
    lower-case hex (connectors.pii), nothing to escape, and 100,000 one-item lists are not built."""
    data = '"],["'.join(digests)
    return f'{{"users":[{{"schema":["{schema}"],"data":[["{data}"]]}}]}}'.encode()


def _read(response: requests.Response, records: Sequence[Record], schema: str) -> list[RecordResult]:
    body = json_object(response)
    if response.status_code >= 400 or str(body.get("request_status", "")).upper() != "SUCCESS":
        reason = str(body.get("debug_message") or body.get("display_message") or f"HTTP {response.status_code}")
        code = str(body.get("error_code") or response.status_code)
        return RecordResult.for_keys([r.key for r in records], RecordStatus.REJECTED, reason, code)
    subs = body.get("users") or [{}]
    sub = subs[0] if isinstance(subs[0], dict) else {}
    if str(sub.get("sub_request_status", "")).upper() != "SUCCESS":
        reason = str(sub.get("sub_request_error_reason") or f"{schema} upload refused")
        return RecordResult.for_keys([r.key for r in records], RecordStatus.REJECTED, reason, "sub_request_error")
    request_id = str(body.get("request_id") or "") or None
    return RecordResult.for_keys([r.key for r in records], RecordStatus.ACCEPTED, vendor_id=request_id)
