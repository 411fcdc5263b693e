"""Keep secrets and personal data out of logs, exceptions and run metadata.

Two layers, because either alone leaks: connectors never format secrets or raw
request data into messages themselves, and a logging filter on our loggers and
on urllib3's (which logs request lines, query strings included, at DEBUG)
masks any registered secret and anything shaped like an email address or a
phone number that slipped through anyway.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# URL-encoded addresses appear in query strings (%40 is "@").
_EMAIL_ENCODED = re.compile(r"[\w.+%-]+%40[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# Phone numbers in the shapes vendors echo back: "+" (or its URL encoding)
# followed by 7-15 digits with optional separators, bare runs of 10-15 digits
# (Meta-style digits-only), and (650) 555-1212. IPs, dates and status codes
# must survive, or the logs stop being useful.
_PHONE = re.compile(
    r"(?:\+|%2B)\d[\d\s().-]{5,18}\d"
    r"|(?<![\w.])\d{10,15}(?![\w.])"
    r"|\(\d{3}\)\s?\d{3}-\d{4}",
    re.IGNORECASE,
)

_secrets: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A credential that cannot be printed by accident: repr/str show a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def register_secret(value: str) -> None:
    # Very short values would mask innocent text everywhere; real keys are long.
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _EMAIL_ENCODED.sub("<email>", text)
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTERED_LOGGERS = (
    "connectors",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
    "urllib3.response",
)
_installed = False


def install_log_redaction() -> None:
    """Attach the filter to every logger that sees request data. Logger filters
    apply only to records created on that exact logger, hence the explicit list
    (our modules log through ``connectors.<module>`` children via ``get_logger``)."""
    global _installed
    if _installed:
        return
    redacting = RedactingFilter()
    for name in _FILTERED_LOGGERS:
        logging.getLogger(name).addFilter(redacting)
    _installed = True


def get_logger(name: str) -> logging.Logger:
    install_log_redaction()
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger


def without_record_values(text: str, fields: Mapping[str, Any]) -> str:
    """Vendors echo the offending value in their reasons ("Invalid email address:
    ada@..."), including values no pattern recognises; replace each of the
    record's own values with the field's name."""
    for name, value in fields.items():
        if isinstance(value, str) and len(value.strip()) >= 4 and value.strip() in text:
            text = text.replace(value.strip(), f"<{name}>")
    return scrub(text)
