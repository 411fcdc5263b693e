"""Local Firebase Cloud Messaging HTTP v1 with its OAuth2 token endpoint.

Contract enforced (firebase.google.com/docs/reference/fcm/rest/v1/projects.messages,
/docs/reference/fcm/rest/v1/ErrorCode, developers.google.com/identity/protocols/oauth2/service-account):
- POST /token, form ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>``:
  the JWT is RS256, signed by the service account's key (verified against its public key),
  iss = client_email, scope includes firebase.messaging, aud = token_uri, exp - iat <= 3600
  and not expired; else 400 ``invalid_grant``. Answers ``{"access_token", "expires_in": 3599}``.
- POST /v1/projects/{project}/messages:send with ``Authorization: Bearer <access token>``
  (401 UNAUTHENTICATED otherwise, 403 PERMISSION_DENIED for another project); one message.
- Per-message errors carry ``error.details[]`` of type FcmError with ``errorCode``:
  404 UNREGISTERED, 400 INVALID_ARGUMENT, 403 SENDER_ID_MISMATCH, 429 QUOTA_EXCEEDED
  (Retry-After sometimes), 503 UNAVAILABLE, 500 INTERNAL.

The key is generated when the server starts (none is committed). For the demo and benchmarks,
GET /demo/service-account.json (local server only) hands it out, so ``python -m connectors.vendor_servers
fcm`` is usable out of the box: ``THROUGHLINE_FCM_SERVICE_ACCOUNT=$(curl -s <url>/demo/service-account.json)``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.vendor_servers.base import Incoming, Reply, VendorServer, WindowLimit

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEMO_PROJECT = "throughline-demo"
DEMO_KEY_PATH = "/demo/service-account.json"
_SEND = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_:\-]{8,4096}$")
_MESSAGE_KEYS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic",
                 "condition"}
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
           500: "INTERNAL", 503: "UNAVAILABLE", 401: "UNAUTHENTICATED"}


def fcm_error(status: int, code: str | None, message: str) -> Reply:
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if code:
        error["details"] = [{"@type": _FCM_ERROR, "errorCode": code}]
    return Reply(status, {"error": error})


def make_service_account(token_uri: str, project_id: str = DEMO_PROJECT) -> dict[str, str]:
    """A service-account key file as the Google Cloud console downloads it, with a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
        "token_uri": token_uri,
    }


class FcmServer(VendorServer):
    vendor = "fcm"
    # FCM's default per-project quota is 600,000 messages a minute.
    default_rate_limits = (WindowLimit(600_000, 60.0),)

    def __init__(self, project_id: str = DEMO_PROJECT, **options: Any) -> None:
        super().__init__(**options)
        self.project_id = project_id
        self.service_account: dict[str, str] = {}
        self.public_key: Any = None
        self.access_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.token_requests = 0
        self.unregistered: set[str] = set()
        self.mismatched: set[str] = set()
        self.messages: list[dict[str, Any]] = []

    def start(self) -> str:
        url = super().start()
        if not self.service_account:
            self.service_account = make_service_account(url + "/token", self.project_id)
            private = serialization.load_pem_private_key(self.service_account["private_key"].encode(), None)
            self.public_key = private.public_key()  # type: ignore[union-attr]
        return url

    def expire_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def messages_to(self, token: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if m.get("token") == token]

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if incoming.path in ("/token", DEMO_KEY_PATH):
            return None
        header = incoming.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            expiry = self.access_tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return fcm_error(401, None, "Request had invalid authentication credentials. Expected OAuth 2 access "
                             "token, login cookie or other valid authentication credential.")
        return None

    def throttle_reply(self, retry_after: float | None) -> Reply:
        reply = fcm_error(429, "QUOTA_EXCEEDED", "Quota exceeded for quota metric 'Send requests'.")
        if retry_after is not None:
            reply.headers["Retry-After"] = str(int(retry_after))
        return reply

    def server_error_reply(self, status: int) -> Reply:
        if status == 503:
            return fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        return fcm_error(status, "INTERNAL", "Internal error encountered.")

    def route(self, incoming: Incoming) -> Reply:
        if incoming.path == DEMO_KEY_PATH and incoming.method == "GET":
            return Reply(200, self.service_account)
        if incoming.path == "/token" and incoming.method == "POST":
            return self._issue_token(incoming)
        if (match := _SEND.match(incoming.path)) and incoming.method == "POST":
            if match.group(1) != self.project_id:
                return fcm_error(403, None, "Permission 'cloudmessaging.messages.create' denied on resource.")
            return self._send(incoming)
        return fcm_error(404, None, "Requested entity was not found.")

    def _issue_token(self, incoming: Incoming) -> Reply:
        form = {k: v[-1] for k, v in incoming.form().items()}
        if form.get("grant_type") != GRANT:
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            claims = jwt.decode(
                form.get("assertion", ""), self.public_key, algorithms=["RS256"],
                audience=self.service_account["token_uri"], issuer=self.service_account["client_email"],
                options={"require": ["iss", "aud", "iat", "exp", "scope"]},
            )
        except jwt.PyJWTError as error:
            return Reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. ({error})"})
        if claims["exp"] - claims["iat"] > 3600:
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT: exp too far from iat"})
        if SCOPE not in str(claims["scope"]).split():
            return Reply(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."})
        token = "ya29." + secrets.token_urlsafe(48)
        with self.lock:
            self.access_tokens[token] = time.monotonic() + 3599
            self.token_requests += 1
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _send(self, incoming: Incoming) -> Reply:
        try:
            body = incoming.json()
        except (ValueError, UnicodeDecodeError):
            return fcm_error(400, None, "Invalid JSON payload received.")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            return fcm_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument: message is required.")
        unknown = set(message) - _MESSAGE_KEYS
        if unknown:
            return fcm_error(400, None, f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}"')
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': values must be strings")
        notification = message.get("notification", {})
        if not isinstance(notification, dict) or set(notification) - {"title", "body", "image"}:
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.notification'")
        if len(json.dumps(message).encode()) > 4096:
            return fcm_error(400, "INVALID_ARGUMENT", "Message payload exceeds the 4096 bytes limit.")
        token = message.get("token")
        if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
            return fcm_error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
        if token in self.mismatched:
            return fcm_error(403, "SENDER_ID_MISMATCH", "SenderId mismatch")
        if token in self.unregistered:
            return fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
        name = f"projects/{self.project_id}/messages/0:{uuid.uuid4().int % 10**16}"
        with self.lock:
            self.messages.append({**message, "name": name})
        return Reply(200, {"name": name})
