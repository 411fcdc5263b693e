"""Project-wide journey policies (dbt_project/journeys/policies.yml), overridable per journey.

Consent and unsubscribes, frequency caps over rolling windows, quiet hours in the
customer's time zone, and the collision window between journeys of different priority.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from orchestration.journeys.spec import CHANNELS, JourneyError, parse_duration

CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class FrequencyCap:
    channel: str  # a channel, or "all" for every channel together
    max_messages: int
    window_seconds: int


@dataclass(frozen=True)
class Policies:
    consent_required: dict[str, bool]
    frequency_caps: tuple[FrequencyCap, ...]
    quiet_start: str
    quiet_end: str
    quiet_channels: tuple[str, ...]
    default_timezone: str
    collision_window_seconds: int
    max_delay_seconds: int

    @property
    def quiet_hours(self) -> dict[str, str]:
        return {"start": self.quiet_start, "end": self.quiet_end}


DEFAULTS = Policies(
    consent_required={channel: channel in ("email", "sms", "push", "ad_audience") for channel in CHANNELS},
    frequency_caps=(FrequencyCap("all", 3, 86400),),
    quiet_start="21:00",
    quiet_end="08:00",
    quiet_channels=("sms", "push"),
    default_timezone="UTC",
    collision_window_seconds=86400,
    max_delay_seconds=86400,
)


def _apply(base: Policies, data: Any, owner: str, path: str) -> Policies:
    """Overlay one policies mapping (project file or a journey's `policies:`) on `base`."""
    if not data:
        return base
    if not isinstance(data, dict):
        raise JourneyError(owner, path, "expected a mapping", "see docs/journeys.md, Policies")
    allowed = {"consent", "frequency_caps", "quiet_hours", "default_timezone", "collision_window", "max_delay"}
    unknown = set(data) - allowed
    if unknown:
        raise JourneyError(owner, f"{path}.{sorted(unknown)[0]}", "unknown policy", f"use one of: {', '.join(sorted(allowed))}")
    policies = base
    if "consent" in data:
        consent = dict(base.consent_required)
        for channel, rule in (data["consent"] or {}).items():
            if channel not in CHANNELS or rule not in ("required", "not_required"):
                raise JourneyError(owner, f"{path}.consent.{channel}", f"'{channel}: {rule}' is not a consent rule",
                                   f"write <channel>: required|not_required for a channel in {', '.join(CHANNELS)}")
            consent[channel] = rule == "required"
        policies = replace(policies, consent_required=consent)
    if "frequency_caps" in data:
        caps = []
        for i, cap in enumerate(data["frequency_caps"] or []):
            where = f"{path}.frequency_caps[{i}]"
            if not isinstance(cap, dict) or set(cap) != {"channel", "max", "per"}:
                raise JourneyError(owner, where, "a cap needs channel, max and per", "e.g. {channel: sms, max: 1, per: 1 day}")
            if cap["channel"] not in (*CHANNELS, "all"):
                raise JourneyError(owner, f"{where}.channel", f"unknown channel '{cap['channel']}'", f"use all or one of: {', '.join(CHANNELS)}")
            if not isinstance(cap["max"], int) or cap["max"] < 0:
                raise JourneyError(owner, f"{where}.max", f"'{cap['max']}' is not a whole number", "e.g. max: 2")
            caps.append(FrequencyCap(cap["channel"], cap["max"], parse_duration(owner, f"{where}.per", cap["per"]).seconds))
        policies = replace(policies, frequency_caps=tuple(caps))
    if "quiet_hours" in data:
        quiet = data["quiet_hours"] or {}
        for key in ("start", "end"):
            if key in quiet and not CLOCK.match(str(quiet[key])):
                raise JourneyError(owner, f"{path}.quiet_hours.{key}", f"'{quiet[key]}' is not a time of day", "write HH:MM in 24-hour time, e.g. '21:00'")
        channels = tuple(quiet.get("channels", policies.quiet_channels))
        bad = [c for c in channels if c not in CHANNELS]
        if bad:
            raise JourneyError(owner, f"{path}.quiet_hours.channels", f"unknown channel '{bad[0]}'", f"use channels from: {', '.join(CHANNELS)}")
        policies = replace(policies, quiet_start=str(quiet.get("start", policies.quiet_start)),
                           quiet_end=str(quiet.get("end", policies.quiet_end)), quiet_channels=channels)
    if "default_timezone" in data:
        zone = str(data["default_timezone"])
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise JourneyError(owner, f"{path}.default_timezone", f"'{zone}' is not a time zone", "use an IANA name, e.g. America/New_York") from None
        policies = replace(policies, default_timezone=zone)
    if "collision_window" in data:
        window = parse_duration(owner, f"{path}.collision_window", data["collision_window"])
        policies = replace(policies, collision_window_seconds=window.seconds)
    if "max_delay" in data:
        delay = parse_duration(owner, f"{path}.max_delay", data["max_delay"])
        policies = replace(policies, max_delay_seconds=delay.seconds)
    return policies


def load_policies(path: Path) -> Policies:
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    return _apply(DEFAULTS, data, "(project policies)", "policies")


def for_journey(project: Policies, journey_name: str, overrides: Any) -> Policies:
    """A journey's own `policies:` over the project's. Caps stay project-wide: they count
    every journey's messages to a customer."""
    if isinstance(overrides, dict) and "frequency_caps" in overrides:
        raise JourneyError(journey_name, "policies.frequency_caps", "frequency caps are project-wide",
                           "set them in dbt_project/journeys/policies.yml")
    return _apply(project, overrides, journey_name, "policies")
