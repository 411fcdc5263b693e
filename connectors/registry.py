"""Destinations by name. A vendor module registers its class with
``@register``; syncs build one with ``create(name)`` from the environment."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from connectors.base import ConfigurationError, Destination

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
