"""What destinations report back, loaded into raw.delivery_events: deliveries, opens and
clicks, and the bounces, complaints and unsubscribes that suppress a channel (the journey
models read them through stg_throughline__delivery_events).

Formats, one parser each:
  sendgrid    Event Webhook POST bodies: a JSON array of events (custom_args such as
              throughline_action_id arrive as top-level keys)
  twilio      status callbacks: one per line, form-encoded (as POSTed) or a JSON object;
              the callback URL's throughline_action_id is kept when present
  braze       Currents exports: JSON lines with event_type users.messages.<channel>.<Event>
  customerio  reporting webhooks: JSON objects with metric, object_type and data

`throughline delivery-events PROVIDER PATH...` loads files; the landing folder loads
`landing/delivery_events/<provider>/*` on every tick. Loading is idempotent by
(provider, event id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

Row = dict[str, Any]
PROVIDERS = ("sendgrid", "twilio", "braze", "customerio")


def _at(value: Any) -> datetime:
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def delivery_event(provider: str, event_id: str, event_type: str, channel: str, occurred_at: datetime, *, address: str | None = None,
         action_id: str | None = None, customer_id: str | None = None, payload: Any = None) -> Row:
    return {"event_id": str(event_id), "provider": provider, "event_type": event_type, "channel": channel,
            "address": address, "action_id": action_id, "customer_id": customer_id, "occurred_at": occurred_at,
            "payload": json.dumps(payload, default=str)}


SENDGRID_TYPES = {"delivered": "delivered", "open": "open", "click": "click", "dropped": "dropped",
                  "spamreport": "complaint", "unsubscribe": "unsubscribe", "group_unsubscribe": "unsubscribe"}


def sendgrid(text: str) -> Iterator[Row]:
    events = json.loads(text)
    for event in events if isinstance(events, list) else [events]:
        kind = event.get("event")
        if kind == "bounce":  # "blocked" is SendGrid's temporary refusal; "bounce" is permanent
            kind_out = "soft_bounce" if event.get("type") == "blocked" else "hard_bounce"
        else:
            kind_out = SENDGRID_TYPES.get(kind)
        if kind_out is None:  # processed, deferred, group_resubscribe: not a delivery outcome we act on
            continue
        yield delivery_event("sendgrid", event.get("sg_event_id") or f"{event.get('sg_message_id')}:{kind}", kind_out, "email",
                   _at(event["timestamp"]), address=event.get("email"), action_id=event.get("throughline_action_id"), payload=event)


# Twilio error codes that mean the number will not work again, or the person opted out.
TWILIO_UNSUBSCRIBED = {"21610"}
TWILIO_PERMANENT = {"21211", "21614", "30003", "30005", "30006", "21408", "21612"}


def twilio(text: str) -> Iterator[Row]:
    for line in filter(None, (line.strip() for line in text.splitlines())):
        fields = json.loads(line) if line.startswith("{") else {k: v[0] for k, v in parse_qs(line).items()}
        status, code = fields.get("MessageStatus") or fields.get("SmsStatus"), str(fields.get("ErrorCode") or "")
        if fields.get("OptOutType") == "STOP":
            kind = "unsubscribe"
        elif status == "delivered":
            kind = "delivered"
        elif status in ("undelivered", "failed"):
            kind = "unsubscribe" if code in TWILIO_UNSUBSCRIBED else "hard_bounce" if code in TWILIO_PERMANENT else "soft_bounce"
        else:
            continue  # queued, sent, accepted: not an outcome yet
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        at = _at(fields["Timestamp"]) if fields.get("Timestamp") else datetime.now(UTC).replace(tzinfo=None)
        yield delivery_event("twilio", f"{sid}:{status or kind}", kind, "sms", at, address=fields.get("To"),
                   action_id=fields.get("throughline_action_id"), payload=fields)


BRAZE_TYPES = {"Delivery": "delivered", "Open": "open", "Click": "click", "Bounce": "hard_bounce",
               "SoftBounce": "soft_bounce", "MarkAsSpam": "complaint", "Unsubscribe": "unsubscribe"}
BRAZE_CHANNELS = {"email": "email", "sms": "sms", "pushnotification": "push", "inappmessage": "in_app"}


def braze(text: str) -> Iterator[Row]:
    for line in filter(None, (line.strip() for line in text.splitlines())):
        event = json.loads(line)
        parts = str(event.get("event_type", "")).split(".")  # users.messages.email.Bounce
        if len(parts) != 4 or parts[3] not in BRAZE_TYPES or parts[2] not in BRAZE_CHANNELS:
            continue
        properties = event.get("properties") or {}
        yield delivery_event("braze", event["id"], BRAZE_TYPES[parts[3]], BRAZE_CHANNELS[parts[2]], _at(event["time"]),
                   address=event.get("email_address") or event.get("to_phone_number") or properties.get("address"),
                   action_id=properties.get("throughline_action_id"), customer_id=event.get("external_user_id"), payload=event)


CUSTOMERIO_TYPES = {"delivered": "delivered", "opened": "open", "clicked": "click", "bounced": "hard_bounce",
                    "spammed": "complaint", "unsubscribed": "unsubscribe", "dropped": "dropped", "failed": "soft_bounce"}


def customerio(text: str) -> Iterator[Row]:
    text = text.strip()
    events = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line.strip()]
    for event in events:
        kind = CUSTOMERIO_TYPES.get(event.get("metric"))
        if kind is None:
            continue
        data = event.get("data") or {}
        identifiers = data.get("identifiers") or {}
        channel = {"email": "email", "sms": "sms", "push": "push", "in_app": "in_app"}.get(event.get("object_type"), "email")
        yield delivery_event("customerio", event["event_id"], kind, channel, _at(event["timestamp"]), address=data.get("recipient"),
                   action_id=(data.get("message_data") or {}).get("throughline_action_id"),
                   customer_id=identifiers.get("id") or data.get("customer_id"), payload=event)


PARSERS: dict[str, Callable[[str], Iterator[Row]]] = {"sendgrid": sendgrid, "twilio": twilio, "braze": braze, "customerio": customerio}


def load_delivery_events(con: Any, provider: str, path: Path) -> dict[str, int]:
    """Parse one file and add the events raw.delivery_events does not have yet."""
    if provider not in PARSERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    rows = list(PARSERS[provider](Path(path).read_text()))
    return {"events": len(rows), "added": add_delivery_events(con, rows)}


def add_delivery_events(con: Any, rows: list[Row]) -> int:
    """Insert the events raw.delivery_events does not have yet (by provider and event id)."""
    columns = ("event_id", "provider", "event_type", "channel", "address", "action_id", "customer_id", "occurred_at", "payload")
    added = 0
    for row in rows:
        exists = con.execute("select 1 from raw.delivery_events where provider = ? and event_id = ?",
                             [row["provider"], row["event_id"]]).fetchone()
        if not exists:
            con.execute(f"insert into raw.delivery_events ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
                        [row[c] for c in columns])
            added += 1
    return added
