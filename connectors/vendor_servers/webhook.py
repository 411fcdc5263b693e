"""A local receiver for the generic webhook destination.

Contract (ours, documented in connectors/destinations/webhook.py):
- POST JSON ``{"batch_id", "operation", "sent_at", "records": [{"key", "fields"}]}``
  signed per ``connectors.webhook_signing``; a bad or stale signature is 401.
- ``Idempotency-Key`` = batch id: a batch seen before is answered from memory
  and not applied again.
- 200 ``{"results": [{"key", "status": "rejected", "reason"}]}`` lists the
  records the receiver refused; every other record in the batch was accepted.
- More than ``max_batch_size`` records is 413; throttling is 429 with Retry-After.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer
from connectors.webhook_signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


class WebhookServer(VendorServer):
    vendor = "webhook"

    def __init__(self, secret: str = "whsec-test-0123456789", max_batch_size: int = 500, **options: Any) -> None:
        super().__init__(**options)
        self.secret = secret
        self.max_batch_size = max_batch_size
        self.reject_keys: dict[str, str] = {}  # key -> reason the receiver gives
        self.received: Counter[str] = Counter()  # record key -> times applied
        self.batches: dict[str, dict[str, Any]] = {}  # batch id -> stored reply

    def authenticate(self, incoming: Incoming) -> Reply | None:
        if not verify(
            self.secret, incoming.headers.get(TIMESTAMP_HEADER), incoming.headers.get(SIGNATURE_HEADER), incoming.body
        ):
            return Reply(401, {"error": "invalid signature"})
        return None

    def route(self, incoming: Incoming) -> Reply:
        if incoming.method != "POST":
            return Reply(405, {"error": "method not allowed"})
        body = incoming.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list) or "batch_id" not in body:
            return Reply(400, {"error": "expected batch_id and records"})
        if len(body["records"]) > self.max_batch_size:
            return Reply(413, {"error": f"at most {self.max_batch_size} records per batch"})
        batch_id = incoming.headers.get(IDEMPOTENCY_HEADER) or body["batch_id"]
        with self.lock:
            if batch_id in self.batches:
                return Reply(200, self.batches[batch_id])
            results = []
            for record in body["records"]:
                key = record.get("key")
                if key in self.reject_keys:
                    results.append({"key": key, "status": "rejected", "reason": self.reject_keys[key]})
                else:
                    self.received[key] += 1
            reply = {"results": results}
            if body["records"]:  # an empty batch is a connectivity check, not a delivery
                self.batches[batch_id] = reply
        return Reply(200, reply)
