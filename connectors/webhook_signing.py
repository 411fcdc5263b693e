"""The generic webhook's signature, shared by the sender and any receiver.

``X-Throughline-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
with the Unix timestamp in ``X-Throughline-Timestamp``. Signing the timestamp
with the body lets a receiver refuse replays older than its tolerance
(the same scheme as Stripe's and Slack's webhook signatures).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Throughline-Signature"
TIMESTAMP_HEADER = "X-Throughline-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str | None, provided: str | None, body: bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    if not timestamp or not provided or not timestamp.isdigit():
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), provided)
