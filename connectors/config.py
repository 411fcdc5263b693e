"""Settings and secrets come from environment variables only.

Each destination reads ``<PREFIX>_<NAME>`` where the prefix defaults to
``THROUGHLINE_<DESTINATION>`` (e.g. THROUGHLINE_SENDGRID_API_KEY); a second
instance of the same vendor gets its own prefix. The HTTP tuning variables are
shared by every HTTP destination and documented in ``HttpSettings.from_env``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from connectors.base import ConfigurationError
from connectors.redaction import Secret


class EnvReader:
    def __init__(self, prefix: str, env: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix.rstrip("_")
        self.env = os.environ if env is None else env

    def var(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def _raw(self, name: str) -> str | None:
        value = self.env.get(self.var(name))
        return value if value not in (None, "") else None

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._raw(name)
        if value is None and required:
            raise ConfigurationError(f"environment variable {self.var(name)} is required")
        return value if value is not None else default

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def secret(self, name: str) -> Secret:
        # The message names the variable, never the value.
        return Secret(self.required(name))

    def number(self, name: str, default: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigurationError(f"{self.var(name)} must be a number") from None

    def integer(self, name: str, default: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigurationError(f"{self.var(name)} must be an integer") from None

    def json_object(self, name: str) -> dict[str, Any]:
        value = self._raw(name)
        if value is None:
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigurationError(f"{self.var(name)} must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise ConfigurationError(f"{self.var(name)} must be a JSON object")
        return parsed


def default_prefix(destination_name: str) -> str:
    return "THROUGHLINE_" + destination_name.upper().replace("-", "_")
