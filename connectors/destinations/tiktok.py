"""TikTok custom audiences (customer file): add and remove members of an existing audience.

Environment (prefix THROUGHLINE_TIKTOK by default):
  ACCESS_TOKEN     secret: a TikTok API for Business token with the Audience Management scope
  ADVERTISER_ID    the ad account that owns the audiences
  CALCULATE_TYPE   the audience's encryption type: EMAIL_SHA256 (default), PHONE_SHA256,
                   IDFA_SHA256 or GAID_SHA256. TikTok updates an audience only with files of
                   its own type, so one destination instance sends one kind of identifier.
  BASE_URL         default https://business-api.tiktok.com
  DEFAULT_REGION   region for phone numbers written without a country code, default US
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations (target = the custom_audience_id), one file of at most 100,000 digests per batch:
  1. POST /open_api/v1.3/dmp/custom_audience/file/upload/ (multipart: advertiser_id,
     calculate_type, file = one SHA-256 digest per line, file_signature = the file's MD5)
     -> data.file_path
  2. POST /open_api/v1.3/dmp/custom_audience/update/ {action: APPEND (add) or REMOVE
     (remove), file_paths: [file_path]}
Records carry the field of the type (email, phone, idfa or gaid; mobile_ad_id for either
MAID type), normalised and hashed by TikTok's rules (connectors.pii) before it leaves; a
record without a usable one is REJECTED without a request. APPEND adds only what is not in
the audience and REMOVE only what is, so a resend changes nothing.
TikTok answers every request HTTP 200 with {"code", "message", "request_id", "data"}:
``tiktok_code_signal`` gives the HTTP layer its verdict from ``code`` (TikTok's return codes,
as its SDK's NumericErrorCodes names them). Other codes refuse the batch with TikTok's message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

import requests

from connectors.base import (Capabilities, CheckResult, ConfigurationError, Destination, Operation, OperationLimits,
                             Record, RecordResult, RecordStatus, WriteResult, chunked)
from connectors.config import EnvReader, default_prefix
from connectors.http import (Classification, HttpSettings, Verdict, VendorHttpClient, json_object, probe,
                             retry_after_seconds, settle)
from connectors.pii import Platform, hash_column
from connectors.registry import register

API = "/open_api/v1.3"
MAX_LINES = 100_000  # 6.5 MB of digests a file, well under the 50 MB TikTok takes
FIELDS = {"EMAIL_SHA256": ("email",), "PHONE_SHA256": ("phone",), "IDFA_SHA256": ("idfa", "mobile_ad_id"),
          "GAID_SHA256": ("gaid", "mobile_ad_id")}
THROTTLE_CODES = frozenset({40100, 40132, 61000})  # too frequent, frequency limited, blocked for too many
AUTH_CODES = frozenset({40001, 40101, 40102, 40104, 40105, 40106, 40113, 40130})
_LIMITS = OperationLimits(max_records=MAX_LINES)


def tiktok_code_signal(response: requests.Response) -> Classification | None:
    """The verdict an HTTP status would carry, from TikTok's HTTP-200 envelope."""
    code = json_object(response).get("code")
    if not isinstance(code, int) or code == 0:
        return None
    reason = f"TikTok code {code}"
    if code in THROTTLE_CODES:
        return Classification(Verdict.TRANSIENT, retry_after_seconds(response.headers.get("Retry-After")), reason,
                              throttled=True)
    if code in AUTH_CODES:
        return Classification(Verdict.AUTH, reason=reason)
    if 50000 <= code < 53000 or code == 60001:  # system errors, timeouts, maintenance
        return Classification(Verdict.TRANSIENT, None, reason)
    return Classification(Verdict.FATAL, reason=reason)


class HashedFile(list):  # type: ignore[type-arg]
    """One file's records, its content (their digests, one a line, in order) and the records with none."""

    def __init__(self, records: Sequence[Record], digests: list[str], rejected: dict[int, RecordResult]) -> None:
        super().__init__(records)
        self.content, self.rejected = "\n".join(digests).encode("ascii"), rejected


@register
class TikTokCustomAudienceDestination(Destination):
    name = "tiktok"
    capabilities = Capabilities(
        operations={Operation.ADD_AUDIENCE_MEMBERS: _LIMITS, Operation.REMOVE_AUDIENCE_MEMBERS: _LIMITS},
        needs_target=frozenset({Operation.ADD_AUDIENCE_MEMBERS, Operation.REMOVE_AUDIENCE_MEMBERS}),
    )
    hashes_identifiers = Platform.TIKTOK

    def __init__(self, access_token: str, advertiser_id: str, *, calculate_type: str = "EMAIL_SHA256",
                 base_url: str = "https://business-api.tiktok.com", default_region: str = "US",
                 http: HttpSettings | None = None) -> None:
        if calculate_type not in FIELDS:
            raise ConfigurationError(f"tiktok: CALCULATE_TYPE must be one of {', '.join(FIELDS)}")
        self.advertiser_id, self.calculate_type, self.default_region = advertiser_id, calculate_type, default_region
        self.fields = FIELDS[calculate_type]
        self.client = VendorHttpClient("tiktok", base_url, http or HttpSettings(),
                                       headers={"Access-Token": access_token}, envelope_signals=(tiktok_code_signal,))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> TikTokCustomAudienceDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(reader.secret("ACCESS_TOKEN").reveal(), reader.required("ADVERTISER_ID"),
                   calculate_type=(reader.text("CALCULATE_TYPE", "EMAIL_SHA256") or "").upper(),
                   base_url=reader.text("BASE_URL", "https://business-api.tiktok.com") or "",
                   default_region=reader.text("DEFAULT_REGION", "US") or "US", http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        params = {"advertiser_id": self.advertiser_id, "page": 1, "page_size": 1}
        response, problem = probe(self.client, "GET", f"{API}/dmp/custom_audience/list/", params=params)
        if response is None:
            return CheckResult(False, problem)
        body = json_object(response)
        if body.get("code") != 0:
            return CheckResult(False, f"tiktok answered code {body.get('code')}: {body.get('message')}")
        return CheckResult(True, "tiktok access token accepted for the advertiser")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        # hashed here, so the next file is hashed while the previous one is on the wire
        return (self._hash(batch) for batch in chunked(records, MAX_LINES))

    def _hash(self, records: Sequence[Record]) -> HashedFile:
        first = self.fields[0]
        column = [record.fields.get(first) for record in records]
        for alternative in self.fields[1:]:
            column = [value or record.fields.get(alternative) for value, record in zip(column, records)]
        digests, hashed, problems = hash_column(self.fields[0], column, Platform.TIKTOK, self.default_region)
        rejected = {}
        if len(hashed) < len(records):
            for index in set(range(len(records))).difference(hashed):
                why = problems.get(index, f"no {self.fields[0]}")
                rejected[index] = RecordResult.rejected(records[index].key, f"no usable identifier ({why})",
                                                        "no_identifier")
        return HashedFile(records, digests, rejected)

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        batch = records if isinstance(records, HashedFile) else self._hash(records)
        sent = [r for i, r in enumerate(batch) if i not in batch.rejected] if batch.rejected else batch
        if not sent:
            return [batch.rejected[i] for i in range(len(batch))]
        action = "APPEND" if operation is Operation.ADD_AUDIENCE_MEMBERS else "REMOVE"
        answers = settle(sent, lambda: self._upload_and_update(sent, batch.content, str(target), action, result))
        if not batch.rejected:
            return answers
        pending = iter(answers)
        return [batch.rejected[i] if i in batch.rejected else next(pending) for i in range(len(batch))]

    def _upload_and_update(self, records: Sequence[Record], content: bytes, audience_id: str, action: str,
                           tally: WriteResult) -> list[RecordResult]:
        form = {"advertiser_id": self.advertiser_id, "calculate_type": self.calculate_type,
                "file_signature": hashlib.md5(content).hexdigest()}  # noqa: S324 - TikTok's checksum, not security
        upload = json_object(self.client.request("POST", f"{API}/dmp/custom_audience/file/upload/", data=form,
                                                 files={"file": ("audience.txt", content, "text/plain")}, tally=tally))
        file_path = (upload.get("data") or {}).get("file_path")
        if upload.get("code") != 0 or not file_path:
            return _refused(records, upload)
        body = {"advertiser_id": self.advertiser_id, "custom_audience_id": audience_id, "action": action,
                "file_paths": [file_path]}
        update = json_object(self.client.request("POST", f"{API}/dmp/custom_audience/update/", json=body, tally=tally))
        if update.get("code") != 0:
            return _refused(records, update)
        return RecordResult.for_keys([r.key for r in records], RecordStatus.ACCEPTED, vendor_id=str(file_path))


def _refused(records: Sequence[Record], body: Mapping[str, object]) -> list[RecordResult]:
    reason = str(body.get("message") or "TikTok refused the request")
    return RecordResult.for_keys([r.key for r in records], RecordStatus.REJECTED, reason, str(body.get("code")))
