"""Destinations by name. A vendor module registers its class with
``@register``; syncs build one with ``create(name)`` from the environment."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

from connectors.base import ConfigurationError, Destination
from connectors.config import default_prefix

_REGISTRY: dict[str, type[Destination]] = {}

# Modules imported on first lookup, so registering a vendor is one line here
# plus its module; importing ``connectors`` stays cheap.
BUILTIN_MODULES = (
    "connectors.destinations.sendgrid",
    "connectors.destinations.klaviyo",
    "connectors.destinations.twilio",
    "connectors.destinations.webhook",
    "connectors.destinations.file_outbox",
    "connectors.destinations.braze",
    "connectors.destinations.customerio",
    "connectors.destinations.meta",
    "connectors.destinations.google_ads",
    "connectors.destinations.smtp",
    "connectors.destinations.hubspot",
    "connectors.destinations.mailchimp",
    "connectors.destinations.activecampaign",
    "connectors.destinations.slack",
    "connectors.destinations.snap",
    "connectors.destinations.tiktok",
    "connectors.destinations.linkedin",
    "connectors.destinations.pinterest",
    "connectors.destinations.fcm",
    "connectors.destinations.onesignal",
)


def register(cls: type[Destination]) -> type[Destination]:
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ConfigurationError(f"two destinations are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def available() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def destination_class(name: str) -> type[Destination]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(f"unknown destination {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def create(name: str, env: Mapping[str, str] | None = None, prefix: str | None = None) -> Destination:
    """Build the destination ``name`` from environment variables (``env``
    defaults to ``os.environ``; ``prefix`` to THROUGHLINE_<NAME>)."""
    return destination_class(name).from_env(env, prefix)


def describe(name: str) -> dict[str, Any]:
    """What a destination can do, from its capabilities: each operation's batch limits, rate
    and whether a resend is deduplicated, plus where its settings come from."""
    cls = destination_class(name)
    capabilities = cls.capabilities
    doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    operations = []
    for operation, limits in sorted(capabilities.operations.items(), key=lambda item: item[0].value):
        rate = limits.rate
        operations.append({
            "operation": operation.value,
            "max_records": limits.max_records,
            "max_bytes": limits.max_bytes,
            "rate": None if rate is None else {"requests": rate.requests, "per_seconds": rate.per_seconds},
            "deduplicated": limits.idempotent,
            "needs_target": operation in capabilities.needs_target,
        })
    return {"name": name, "summary": doc.splitlines()[0] if doc else "", "environment_prefix": default_prefix(name),
            "max_concurrency": capabilities.max_concurrency, "operations": operations}
