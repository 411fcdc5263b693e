"""Validation of one Segment-Spec call (track, identify, page, alias).

A call is accepted into the raw layer or rejected with a specific, machine-readable
reason; nothing is silently dropped or repaired beyond what the spec allows.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

import orjson

CALL_TYPES = ("track", "identify", "page", "alias")

# Plausibility bounds: a timestamp outside them is a broken client clock or a unit
# mistake (seconds read as years), not an event worth deciding on.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)


class RejectedCall(ValueError):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class RawEvent(NamedTuple):
    """An accepted call, in the column order of raw.events (a tuple, so batches transpose cheaply)."""

    message_id: str
    type: str
    event: str | None
    name: str | None
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    occurred_at: datetime  # naive, UTC
    properties: str | None
    traits: str | None
    context: str | None


def _identifier(call: dict, key: str) -> str | None:
    """Segment ids are strings, but SDKs send numbers too; blanks mean absent."""
    value = call.get(key)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise RejectedCall("bad_identifier", f"{key} must be a string or integer, got {type(value).__name__}")
    value = value.strip()
    return value or None


def _object_as_json(call: dict, key: str) -> str | None:
    value = call.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RejectedCall("bad_field_type", f"{key} must be a JSON object, got {type(value).__name__}")
    return orjson.dumps(value).decode()


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 to naive UTC. A timestamp without an offset is taken as UTC."""
    if value is None or value == "":
        raise RejectedCall("missing_timestamp", "no timestamp (nor originalTimestamp)")
    if not isinstance(value, str):
        raise RejectedCall("unparseable_timestamp", f"timestamp must be an ISO 8601 string, got {value!r:.60}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RejectedCall("unparseable_timestamp", f"timestamp is not ISO 8601: {value!r:.60}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    if not EARLIEST <= parsed < LATEST:
        raise RejectedCall("implausible_timestamp", f"timestamp {value!r:.60} is outside 2000-2099")
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


def parse_call(call: object) -> RawEvent:
    """Validate one decoded call; raises RejectedCall with the first problem found."""
    if not isinstance(call, dict):
        raise RejectedCall("not_an_object", f"a call must be a JSON object, got {type(call).__name__}")

    message_id = _identifier(call, "messageId")
    if message_id is None:
        raise RejectedCall("missing_message_id", "no messageId: the call cannot be deduplicated")

    call_type = call.get("type")
    if call_type not in CALL_TYPES:
        raise RejectedCall("unknown_type", f"type {call_type!r:.40} is not one of {', '.join(CALL_TYPES)}")

    user_id = _identifier(call, "userId")
    anonymous_id = _identifier(call, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise RejectedCall("missing_identity", "neither userId nor anonymousId is set")

    event = name = previous_id = None
    if call_type == "track":
        event = call.get("event")
        if not isinstance(event, str) or not event.strip():
            raise RejectedCall("missing_event_name", "a track call needs a non-empty event name")
        event = event.strip()
    elif call_type == "page":
        name = call.get("name") if isinstance(call.get("name"), str) else None
    elif call_type == "alias":
        previous_id = _identifier(call, "previousId")
        if previous_id is None or user_id is None:
            raise RejectedCall("incomplete_alias", "an alias call needs both previousId and userId")

    timestamp = call.get("timestamp") or call.get("originalTimestamp")
    return RawEvent(
        message_id=message_id,
        type=call_type,
        event=event,
        name=name,
        user_id=user_id,
        anonymous_id=anonymous_id,
        previous_id=previous_id,
        occurred_at=parse_timestamp(timestamp),
        properties=_object_as_json(call, "properties"),
        traits=_object_as_json(call, "traits"),
        context=_object_as_json(call, "context"),
    )
