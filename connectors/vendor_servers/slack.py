"""Local Slack: an incoming webhook and the Web API's chat.postMessage and auth.test.

Contract enforced (Slack's "Sending messages using incoming webhooks" and chat.postMessage docs):
- Webhook POST /services/<team>/<bot>/<secret>: JSON ``{text, blocks}``; 200 ``ok`` in plain
  text; errors in plain text: 400 ``invalid_payload`` (not JSON), ``no_text``, ``invalid_blocks``;
  403 ``invalid_token`` (a wrong secret); 404 ``no_service`` (unknown hook), ``channel_not_found``;
  410 ``channel_is_archived``.
- Web API POST /api/chat.postMessage (JSON or form), ``Authorization: Bearer xoxb-...``: always
  HTTP 200 with ``{"ok": false, "error": ...}``: not_authed, invalid_auth, channel_not_found,
  not_in_channel, is_archived, no_text, invalid_blocks, msg_too_long; ``{"ok": true, channel, ts,
  message}`` otherwise. POST /api/auth.test.
- About one message per second per channel, with a short burst (a token bucket): past it 429 with
  ``Retry-After`` (``ratelimited`` as the Web API's error, ``rate_limited`` from a webhook).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import Any

from connectors.vendor_servers.base import Incoming, Reply, VendorServer

DEMO_CHANNEL = "C0ALERTS01"
DEMO_TOKEN = "xoxb-0000000000-local-bot-token"
HOOK_PATH = "/services/T0LOCAL00/B0LOCAL00/"
MAX_TEXT = 40_000


class SlackServer(VendorServer):
    vendor = "slack"

    def __init__(self, bot_token: str = DEMO_TOKEN, hook_secret: str = "localwebhooksecret0000000",
                 per_channel_per_second: float | None = 1.0, burst: int = 3, **options: Any) -> None:
        super().__init__(**options)
        if options.get("rate_limits") == ():  # --unlimited lifts the per-channel pace too
            per_channel_per_second = None
        self.bot_token, self.hook_secret = bot_token, hook_secret
        self.per_channel_per_second, self.burst = per_channel_per_second, burst
        # id -> name, whether the bot is a member, archived
        self.channels: dict[str, dict[str, Any]] = {DEMO_CHANNEL: {"name": "sales-alerts", "member": True,
                                                                   "archived": False}}
        self.hook_channel = DEMO_CHANNEL
        self.hook_revoked = False
        self.fail_next: list[str] = []  # Web API errors to answer next (internal_error, fatal_error, ...)
        self.messages: list[dict[str, Any]] = []
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, when)
        self._ts = itertools.count(1)

    @property
    def webhook_url(self) -> str:
        return self.base_url + HOOK_PATH + self.hook_secret

    def in_channel(self, channel: str = DEMO_CHANNEL) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["channel"] == channel]

    def authenticate(self, incoming: Incoming) -> Reply | None:
        return None  # each surface answers bad credentials in its own way (route)

    def throttle_reply(self, retry_after: float | None) -> Reply:
        headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
        return Reply(429, {"ok": False, "error": "ratelimited"}, headers)

    def server_error_reply(self, status: int) -> Reply:
        return Reply(status, b"internal_error", content_type="text/plain")

    def _channel_busy(self, channel: str) -> float | None:
        """A token bucket per channel: about one a second, with the short burst Slack grants.
        Returns the seconds to wait when the channel is over, else None (and the message counts)."""
        rate = self.per_channel_per_second
        if not rate:
            return None
        now = time.monotonic()
        with self.lock:
            tokens, last = self._buckets.get(channel, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * rate)
            if tokens < 1:
                self.throttled += 1
                self._buckets[channel] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[channel] = (tokens - 1, now)
        return None

    def route(self, incoming: Incoming) -> Reply:
        if incoming.method == "POST" and incoming.path.startswith("/services/"):
            return self._webhook(incoming)
        if incoming.method == "POST" and incoming.path in ("/api/chat.postMessage", "/api/auth.test"):
            return self._web_api(incoming)
        return Reply(404, b"not_found", content_type="text/plain")

    def _post(self, channel: str, body: dict[str, Any]) -> str | None:
        text, blocks = body.get("text"), body.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return "invalid_blocks"
        if not text and not blocks:
            return "no_text"
        if blocks is not None and not (isinstance(blocks, list) and all(isinstance(b, dict) and b.get("type")
                                                                        for b in blocks)):
            return "invalid_blocks"
        if text and len(str(text)) > MAX_TEXT:
            return "msg_too_long"
        with self.lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.messages.append({"channel": channel, "text": text, "blocks": blocks, "ts": ts})
        return None

    def _webhook(self, incoming: Incoming) -> Reply:
        def plain(status: int, text: str) -> Reply:
            return Reply(status, text.encode(), content_type="text/html")

        if not incoming.path.startswith(HOOK_PATH) or self.hook_revoked:
            return plain(404, "no_service")
        if incoming.path != HOOK_PATH + self.hook_secret:
            return plain(403, "invalid_token")
        channel = self.channels.get(self.hook_channel)
        if channel is None:
            return plain(404, "channel_not_found")
        if channel["archived"]:
            return plain(410, "channel_is_archived")
        try:
            body = incoming.json()
        except ValueError:
            return plain(400, "invalid_payload")
        if not isinstance(body, dict):
            return plain(400, "invalid_payload")
        if (wait := self._channel_busy(self.hook_channel)) is not None:
            return Reply(429, b"rate_limited", {"Retry-After": str(math.ceil(wait))}, content_type="text/html")
        error = self._post(self.hook_channel, body)
        return plain(400, error) if error else plain(200, "ok")

    def _web_api(self, incoming: Incoming) -> Reply:
        header = incoming.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return Reply(200, {"ok": False, "error": "not_authed"})
        if header.removeprefix("Bearer ") != self.bot_token:
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if incoming.path == "/api/auth.test":
            return Reply(200, {"ok": True, "team": "Local", "user": "throughline", "bot_id": "B0LOCAL00"})
        content_type = incoming.headers.get("Content-Type") or ""
        try:
            body = incoming.json() if "json" in content_type else {k: v[0] for k, v in incoming.form().items()}
        except ValueError:
            return Reply(200, {"ok": False, "error": "invalid_json"})
        wanted = str(body.get("channel") or "")
        channel_id = next((cid for cid, c in self.channels.items() if wanted in (cid, c["name"], "#" + c["name"])),
                          None)
        if channel_id is None:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if self.channels[channel_id]["archived"]:
            return Reply(200, {"ok": False, "error": "is_archived"})
        if not self.channels[channel_id]["member"]:
            return Reply(200, {"ok": False, "error": "not_in_channel"})
        if (wait := self._channel_busy(channel_id)) is not None:
            return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(math.ceil(wait))})
        with self.lock:
            injected = self.fail_next.pop(0) if self.fail_next else None
        if injected:
            if injected == "fatal_error":  # Slack: the message may have been posted anyway
                self._post(channel_id, body)
            return Reply(200, {"ok": False, "error": injected})
        error = self._post(channel_id, body)
        if error:
            return Reply(200, {"ok": False, "error": error})
        message = self.messages[-1]
        return Reply(200, {"ok": True, "channel": channel_id, "ts": message["ts"],
                           "message": {"type": "message", "text": message["text"], "ts": message["ts"]}})
