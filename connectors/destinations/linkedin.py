"""LinkedIn Matched Audiences: add and remove members of a DMP segment (versioned REST API).

Environment (prefix THROUGHLINE_LINKEDIN by default):
  ACCESS_TOKEN  secret: a member token with the rw_dmp_segments permission
  API_VERSION   the LinkedIn-Version header (YYYYMM), default 202611
  BASE_URL      default https://api.linkedin.com
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

Operations (target = the DMP segment id, a USER segment that already exists):
  add_audience_members     POST /rest/dmpSegments/{id}/users, X-RestLi-Method: BATCH_CREATE, action ADD
  remove_audience_members  the same with action REMOVE
Records carry email, first_name, last_name. The email leaves only as SHA256_EMAIL
(trimmed, lower-cased, SHA-256 hex: connectors.pii, Platform.LINKEDIN; a digest the
warehouse made passes through); names go in clear as LinkedIn's firstName/lastName, which
it matches when there is no email. A record with neither an email nor both names is
REJECTED without a request. At most 5,000 elements a request.

LinkedIn answers 200 with one status per element: 201 is ACCEPTED, anything else REJECTED
with LinkedIn's message. Adding or removing the same member again changes nothing, so a
request may be resent even when its answer was lost. The /users endpoint allows 500
requests a minute per member (paced here); a 429 is retried (Retry-After honoured when
sent). A 401 or 403 raises ``AuthenticationError``; an inactive API_VERSION (426) a
``ConfigurationError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from connectors.base import (Capabilities, CheckResult, ConfigurationError, Destination, Operation, OperationLimits,
                             RateLimit, Record, RecordResult, WriteResult, chunked)
from connectors.config import EnvReader, default_prefix
from connectors.http import HttpSettings, VendorHttpClient, json_object, probe, settle
from connectors.pii import InvalidIdentifier, Platform, hash_identifier
from connectors.registry import register

MAX_ELEMENTS = 5_000
USERS_RATE = RateLimit(500, 60)  # per member, on /dmpSegments/{id}/users
_LIMITS = OperationLimits(max_records=MAX_ELEMENTS, rate=USERS_RATE)
_ACTIONS = {Operation.ADD_AUDIENCE_MEMBERS: "ADD", Operation.REMOVE_AUDIENCE_MEMBERS: "REMOVE"}


class PreparedBatch(list):  # type: ignore[type-arg]
    """One request's records with their elements already built (hashing happens while the
    previous request is on the wire): the elements, the index of each sent record, and the
    results of the records that cannot be sent."""

    def __init__(self, records: Sequence[Record], elements: list[dict[str, Any]], sent: list[int],
                 local: dict[int, RecordResult]) -> None:
        super().__init__(records)
        self.elements, self.sent, self.local = elements, sent, local


@register
class LinkedInDestination(Destination):
    name = "linkedin"
    capabilities = Capabilities(
        operations={Operation.ADD_AUDIENCE_MEMBERS: _LIMITS, Operation.REMOVE_AUDIENCE_MEMBERS: _LIMITS},
        needs_target=frozenset(_ACTIONS),
    )
    hashes_identifiers = Platform.LINKEDIN

    def __init__(self, access_token: str, *, api_version: str = "202611", base_url: str = "https://api.linkedin.com",
                 http: HttpSettings | None = None) -> None:
        self.api_version = api_version
        headers = {"Authorization": f"Bearer {access_token}", "LinkedIn-Version": api_version,
                   "X-Restli-Protocol-Version": "2.0.0"}
        self.client = VendorHttpClient("linkedin", base_url, http or HttpSettings(), headers=headers)
        self.limiter = self.client.limiter("dmp-users", USERS_RATE)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> LinkedInDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(reader.secret("ACCESS_TOKEN").reveal(), api_version=reader.text("API_VERSION", "202611") or "",
                   base_url=reader.text("BASE_URL", "https://api.linkedin.com") or "", http=HttpSettings.from_env(reader))

    def close(self) -> None:
        self.client.close()

    def check(self) -> CheckResult:
        response, problem = probe(self.client, "GET", "/rest/adAccountUsers", params={"q": "authenticatedUser"})
        if response is None:
            return CheckResult(False, problem)
        if response.status_code != 200:
            return CheckResult(False, f"linkedin answered HTTP {response.status_code}: {_message(response)}")
        return CheckResult(True, "linkedin access token accepted")

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        action = _ACTIONS[operation]
        return (self._prepare(action, chunk) for chunk in chunked(records, MAX_ELEMENTS))

    def _prepare(self, action: str, records: Sequence[Record]) -> PreparedBatch:
        elements, sent, local = [], [], {}
        for index, record in enumerate(records):
            element: dict[str, Any] = {"action": action}
            email, why = record.get("email"), ""
            if email:
                try:
                    digest = hash_identifier("email", str(email), Platform.LINKEDIN)
                    element["userIds"] = [{"idType": "SHA256_EMAIL", "idValue": digest}]
                except InvalidIdentifier as invalid:
                    why = f" (email: {invalid})"
            first, last = str(record.get("first_name", "")).strip(), str(record.get("last_name", "")).strip()
            if first and last:
                element["firstName"], element["lastName"] = first, last
            if "userIds" in element or "firstName" in element:
                elements.append(element)
                sent.append(index)
            else:
                local[index] = RecordResult.rejected(record.key, "no usable identifier" + why, "no_identifier")
        return PreparedBatch(records, elements, sent, local)

    def write_batch(self, operation: Operation, records: Sequence[Record], target: str | None,
                    result: WriteResult) -> list[RecordResult]:
        batch = records if isinstance(records, PreparedBatch) else self._prepare(_ACTIONS[operation], records)
        sent = [records[index] for index in batch.sent]
        if not sent:
            return [batch.local[index] for index in range(len(records))]

        def send() -> list[RecordResult]:
            response = self.client.request(
                "POST", f"/rest/dmpSegments/{target}/users", data=orjson.dumps({"elements": batch.elements}),
                headers={"Content-Type": "application/json", "X-RestLi-Method": "BATCH_CREATE"},
                limiter=self.limiter, tally=result)
            if response.status_code == 426:
                raise ConfigurationError(f"linkedin: LinkedIn-Version {self.api_version} is not active "
                                         f"({_message(response)}); set API_VERSION to a current YYYYMM")
            if response.status_code >= 400:
                reason, code = _message(response), str(json_object(response).get("code") or response.status_code)
                return [RecordResult.rejected(record.key, reason, code) for record in sent]
            return _per_element(sent, json_object(response).get("elements") or [])

        answers = settle(sent, send)
        if not batch.local:
            return answers
        outcome = dict(batch.local)
        outcome.update(zip(batch.sent, answers, strict=True))
        return [outcome[index] for index in range(len(records))]


def _per_element(records: Sequence[Record], answers: list[Any]) -> list[RecordResult]:
    results = []
    for index, record in enumerate(records):
        answer = answers[index] if index < len(answers) and isinstance(answers[index], dict) else None
        if answer is None:
            results.append(RecordResult.unknown(record.key, "linkedin returned no status for this element"))
        elif answer.get("status") in (200, 201):
            results.append(RecordResult.accepted(record.key))
        else:
            results.append(RecordResult.rejected(record.key, str(answer.get("message") or "rejected"),
                                                 str(answer.get("status"))))
    return results


def _message(response: Any) -> str:
    return str(json_object(response).get("message") or f"HTTP {response.status_code}")
