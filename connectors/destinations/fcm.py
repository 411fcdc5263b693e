"""Firebase Cloud Messaging HTTP v1: one push per request, bounded concurrency, OAuth2 service account.

Environment (prefix THROUGHLINE_FCM by default):
  SERVICE_ACCOUNT   secret: the service-account key JSON, or the path of that file
  PROJECT_ID        default: the key's project_id
  BASE_URL          default https://fcm.googleapis.com
  MAX_CONCURRENCY   requests in flight, default 8
  plus the shared HTTP variables (see ``HttpSettings.from_env``).

send_messages reads ``token`` (device registration token), ``title``, ``body``, ``data`` (a mapping;
FCM wants string values) and ``link`` (deep link, sent as data ``link`` and webpush fcm_options.link).
The access token comes from a JWT (RS256, scope firebase.messaging) exchanged at the key's token_uri;
it is cached and renewed a minute before expiry or on a 401. FCM cannot deduplicate a resend, so a
request with no answer is UNKNOWN. 404 UNREGISTERED is rejected with vendor_code ``UNREGISTERED``:
the sync records it as a bounce of the push channel, so later decisions skip that device.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import requests

from connectors.base import (
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    Operation,
    OperationLimits,
    RateLimit,
    Record,
    RecordResult,
    WriteResult,
)
from connectors.config import EnvReader, default_prefix
from connectors.http import Classification, HttpSettings, VendorHttpClient, Verdict, json_object, map_bounded, settle
from connectors.registry import register

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_RATE = RateLimit(600_000, 60)  # FCM's default per-project quota
DEFAULT_CONCURRENCY = 8
_REFRESH_MARGIN = 60.0


def fcm_error_code(response: requests.Response) -> str | None:
    error = json_object(response).get("error")
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return None


def _sender_mismatch_is_per_message(response: requests.Response) -> Classification | None:
    # A 403 SENDER_ID_MISMATCH is about one token, not our credentials.
    if response.status_code == 403 and fcm_error_code(response) == "SENDER_ID_MISMATCH":
        return Classification(Verdict.FATAL, reason="SENDER_ID_MISMATCH")
    return None


def load_service_account(value: str) -> dict[str, Any]:
    text = value.strip()
    if not text.startswith("{"):
        if not os.path.isfile(text):
            raise ConfigurationError("fcm: SERVICE_ACCOUNT is neither key JSON nor the path of a key file")
        with open(text, encoding="utf-8") as handle:
            text = handle.read()
    try:
        account = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigurationError("fcm: SERVICE_ACCOUNT is not valid JSON") from None
    missing = [k for k in ("client_email", "private_key", "token_uri") if not account.get(k)]
    if missing:
        raise ConfigurationError(f"fcm: the service-account key lacks {', '.join(missing)}")
    return account


@register
class FcmDestination(Destination):
    name = "fcm"
    capabilities = Capabilities(
        operations={
            Operation.SEND_MESSAGES: OperationLimits(max_records=500, rate=DEFAULT_RATE, idempotent=False),
        },
        max_concurrency=DEFAULT_CONCURRENCY,
        blocking_codes=frozenset({"UNREGISTERED"}),
    )

    def __init__(self, service_account: Mapping[str, Any], *, project_id: str | None = None,
                 base_url: str = "https://fcm.googleapis.com", http: HttpSettings | None = None) -> None:
        self.account = dict(service_account)
        self.project_id = project_id or self.account.get("project_id")
        if not self.project_id:
            raise ConfigurationError("fcm: set PROJECT_ID (the key has no project_id)")
        settings = http or HttpSettings()
        self.concurrency = settings.max_concurrency or self.capabilities.max_concurrency
        self.client = VendorHttpClient("fcm", base_url, settings, pool_size=self.concurrency,
                                       body_signals=(_sender_mismatch_is_per_message,))
        self.limiter = self.client.limiter("messages", DEFAULT_RATE)
        self.path = f"/v1/projects/{self.project_id}/messages:send"
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fcm")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> FcmDestination:
        reader = EnvReader(prefix or default_prefix(cls.name), env)
        return cls(
            load_service_account(reader.secret("SERVICE_ACCOUNT").reveal()),
            project_id=reader.text("PROJECT_ID"),
            base_url=reader.text("BASE_URL", "https://fcm.googleapis.com") or "",
            http=HttpSettings.from_env(reader),
        )

    def close(self) -> None:
        self.pool.shutdown()
        self.client.close()

    def access_token(self, stale: str | None = None) -> str:
        """The cached token, renewed near expiry or when ``stale`` (the one FCM refused) is still cached."""
        with self._token_lock:
            cached = self._token
            if cached and cached[0] != stale and cached[1] - _REFRESH_MARGIN > time.monotonic():
                return cached[0]
            now = int(time.time())
            claims = {"iss": self.account["client_email"], "scope": SCOPE, "aud": self.account["token_uri"],
                      "iat": now, "exp": now + 3600}
            try:
                assertion = jwt.encode(claims, self.account["private_key"], algorithm="RS256",
                                       headers={"kid": self.account.get("private_key_id")})
            except (ValueError, TypeError, jwt.PyJWTError):
                raise ConfigurationError("fcm: the service-account private_key is not a usable RSA key") from None
            response = self.client.request(
                "POST", self.account["token_uri"], limiter=self.client.limiter("oauth", None),
                data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            )
            body = json_object(response)
            if response.status_code != 200 or not body.get("access_token"):
                raise AuthenticationError(
                    f"fcm: the token endpoint refused the service account's JWT "
                    f"({body.get('error', response.status_code)}); "
                    "check the key file and that the account has the Firebase messaging role"
                )
            expires = float(body.get("expires_in", 3599))
            self._token = (str(body["access_token"]), time.monotonic() + expires)
            return self._token[0]

    def check(self) -> CheckResult:
        try:
            self.access_token()
        except (AuthenticationError, ConfigurationError) as error:
            return CheckResult(False, str(error))
        except Exception as error:  # noqa: BLE001 - check reports, never raises
            return CheckResult(False, f"fcm: no access token ({type(error).__name__})")
        return CheckResult(True, "fcm service account accepted")

    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        return map_bounded(lambda record: self._send_one(record, result), records, self.concurrency, self.pool)

    def _send_one(self, record: Record, tally: WriteResult) -> RecordResult:
        token = str(record.get("token") or "")
        if not token:
            return RecordResult.rejected(record.key, "no device token", "INVALID_ARGUMENT")
        data = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (record.get("data") or {}).items()}
        # The app reports an open with this id, so the open counts for the journey step that sent it.
        data["throughline_action_id"] = record.key
        message: dict[str, Any] = {"token": token, "data": data}
        rendered = record.get("template_data") or {}  # a message sync's rendered push parts
        notification = {k: str(v) for k in ("title", "body") if (v := record.get(k) or rendered.get(k))}
        if notification:
            message["notification"] = notification
        if link := record.get("link"):
            data["link"] = str(link)
            message["webpush"] = {"fcm_options": {"link": str(link)}}
        payload = {"message": message}

        def post(access: str) -> requests.Response:
            return self.client.request("POST", self.path, json=payload, idempotent=False, limiter=self.limiter,
                                       tally=tally, headers={"Authorization": f"Bearer {access}"})

        def send() -> list[RecordResult]:
            access = self.access_token()
            try:
                response = post(access)
            except AuthenticationError:  # a 401: the token was revoked or expired early; renew once
                response = post(self.access_token(stale=access))
            if response.status_code == 200:
                return [RecordResult.accepted(record.key, json_object(response).get("name"))]
            error = json_object(response).get("error")
            reason = str(error.get("message")) if isinstance(error, dict) else f"HTTP {response.status_code}"
            return [RecordResult.rejected(record.key, reason, fcm_error_code(response) or str(response.status_code))]

        return settle([record], send)[0]
