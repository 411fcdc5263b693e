"""The one HTTP layer every vendor module uses.

- A pooled ``requests`` session with connect/read timeouts.
- Connection *establishment* failures are retried by urllib3's ``Retry``: nothing
  reached the vendor, so that is safe for any method.
- Everything after a request was sent is classified here: 2xx ok; 401/403 bad
  credentials (raise at once, never retried); 429, 408 and 5xx transient; other
  4xx fatal (returned to the caller, whose vendor module reads per-record errors
  out of the body). Vendors that signal throttling in a body (Meta's error codes
  in 400s, Google's RetryInfo) get small classifiers that run first.
- Transient failures back off exponentially with jitter, but a server-stated wait
  (Retry-After, X-RateLimit-Reset, RateLimit-Reset, a body delay) wins, and it
  pauses the shared rate limiter so concurrent workers wait too.
- A transport failure after the request was sent (read timeout, reset) leaves the
  outcome unknown: retried only when the caller says the request is idempotent.
- A client-side limiter paces requests at the vendor's published rate, so a sync
  stays under it instead of bouncing off it.
"""

from __future__ import annotations

import email.utils
import enum
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

from connectors.base import AuthenticationError, DestinationError, RateLimit, RecordResult, WriteResult
from connectors.config import EnvReader
from connectors.redaction import get_logger

log = get_logger("connectors.http")

USER_AGENT = "throughline-connectors/0.1"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 6  # per request, first try included
    backoff_base: float = 0.5  # seconds; attempt n waits ~base * 2**(n-1), jittered
    backoff_max: float = 30.0
    max_server_wait: float = 120.0  # a longer Retry-After gives up (RETRYABLE) instead of blocking the run
    rate_per_second: float | None = None  # overrides the vendor's published rate
    max_concurrency: int | None = None

    @classmethod
    def from_env(cls, reader: EnvReader) -> HttpSettings:
        """Reads <PREFIX>_HTTP_CONNECT_TIMEOUT, _HTTP_READ_TIMEOUT, _HTTP_MAX_ATTEMPTS,
        _HTTP_BACKOFF_BASE, _HTTP_BACKOFF_MAX, _HTTP_MAX_SERVER_WAIT,
        _RATE_PER_SECOND and _MAX_CONCURRENCY (all optional)."""
        default = cls()
        rate = reader.number("RATE_PER_SECOND", 0.0)
        concurrency = reader.integer("MAX_CONCURRENCY", 0)
        return cls(
            connect_timeout=reader.number("HTTP_CONNECT_TIMEOUT", default.connect_timeout),
            read_timeout=reader.number("HTTP_READ_TIMEOUT", default.read_timeout),
            max_attempts=max(1, reader.integer("HTTP_MAX_ATTEMPTS", default.max_attempts)),
            backoff_base=reader.number("HTTP_BACKOFF_BASE", default.backoff_base),
            backoff_max=reader.number("HTTP_BACKOFF_MAX", default.backoff_max),
            max_server_wait=reader.number("HTTP_MAX_SERVER_WAIT", default.max_server_wait),
            rate_per_second=rate or None,
            max_concurrency=concurrency or None,
        )

    def backoff(self, attempt: int) -> float:
        """Exponential with 'equal jitter': never less than half the step, so
        retries spread out without collapsing to zero."""
        step = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return step / 2 + random.uniform(0, step / 2)


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Paces callers to ``rate`` requests per second (one at a time, no bursts:
    vendors measure short windows) and lets a throttled response pause everyone."""

    def __init__(self, rate: RateLimit | float | None) -> None:
        per_second = rate.per_second if isinstance(rate, RateLimit) else rate
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until this caller may send; returns seconds waited."""
        with self._lock:
            now = time.monotonic()
            # A caller a little late (thread wake-up, a slow answer) may use the
            # slot it missed, so jitter does not erode the rate; anything later is
            # forfeited, so an idle spell never banks a burst. The first call has
            # no missed slot: it must not let a second one follow at once.
            earliest = now - self.interval if self._next_slot else now
            slot = max(earliest, self._next_slot, self._paused_until)
            self._next_slot = slot + self.interval
            slot = max(slot, now)
        wait = slot - now
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)

    def pause_for(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


# --------------------------------------------------------------------------- classification


class Verdict(enum.Enum):
    OK = "ok"
    FATAL = "fatal"  # the vendor refused this request; do not resend it unchanged
    AUTH = "auth"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class Classification:
    verdict: Verdict
    wait: float | None = None  # server-stated delay before retrying, in seconds
    reason: str = ""
    throttled: bool = False


BodySignal = Callable[[requests.Response], Classification | None]


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    seconds = _float(value.strip())
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def reset_header_seconds(value: str | None) -> float | None:
    """X-RateLimit-Reset is a Unix timestamp at SendGrid and GitHub, a delta at
    others; anything past 2001 is taken as a timestamp."""
    number = _float(value)
    if number is None:
        return None
    if number > 1_000_000_000:
        return max(number - time.time(), 0.0)
    return max(number, 0.0)


def server_stated_wait(response: requests.Response) -> float | None:
    headers = response.headers
    for name, parse in (
        ("Retry-After", retry_after_seconds),
        ("X-RateLimit-Reset", reset_header_seconds),
        ("RateLimit-Reset", reset_header_seconds),
    ):
        wait = parse(headers.get(name))
        if wait is not None:
            return wait
    return None


def default_classification(response: requests.Response) -> Classification:
    status = response.status_code
    if status < 400:
        return Classification(Verdict.OK)
    if status in (401, 403):
        return Classification(Verdict.AUTH, reason=f"HTTP {status}")
    if status == 429:
        return Classification(Verdict.TRANSIENT, server_stated_wait(response), "HTTP 429", throttled=True)
    if status == 408 or status >= 500:
        return Classification(Verdict.TRANSIENT, _retry_after_only(response), f"HTTP {status}")
    return Classification(Verdict.FATAL, reason=f"HTTP {status}")


def _retry_after_only(response: requests.Response) -> float | None:
    return retry_after_seconds(response.headers.get("Retry-After"))


def _json_body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# Meta Graph API throttling codes (returned in 400/403 bodies, not as 429):
# 4 app, 17 user, 32 page, 613 custom rate, 80000-80014 business-use-case limits.
META_THROTTLE_CODES = frozenset({4, 17, 32, 613}) | frozenset(range(80000, 80015))


def meta_throttle_signal(response: requests.Response) -> Classification | None:
    body = _json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    if code not in META_THROTTLE_CODES and not error.get("is_transient"):
        return None
    return Classification(
        Verdict.TRANSIENT,
        _meta_regain_access_seconds(response),
        f"Meta error code {code}",
        throttled=code in META_THROTTLE_CODES,
    )


# Meta Graph API credential errors, also in 400 bodies: 190 invalid or expired
# token, 102 session, 10 and 200-299 missing permission (e.g. 294 ads_management).
META_AUTH_CODES = frozenset({190, 102, 10}) | frozenset(range(200, 300))


def meta_auth_signal(response: requests.Response) -> Classification | None:
    body = _json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code") in META_AUTH_CODES:
        return Classification(Verdict.AUTH, reason=f"Meta error code {error.get('code')}")
    return None


def _meta_regain_access_seconds(response: requests.Response) -> float | None:
    # X-Business-Use-Case-Usage: {"<business id>": [{"estimated_time_to_regain_access": minutes, ...}]}
    raw = response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access", 0)
        for entries in usage.values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def google_retry_delay_signal(response: requests.Response) -> Classification | None:
    """google.rpc.RetryInfo.retryDelay, or Google Ads' quotaErrorDetails.retryDelay,
    anywhere in the error body (both are protobuf Durations such as "30s")."""
    body = _json_body(response)
    if not isinstance(body, dict) or "error" not in body:
        return None
    delay = _find_key(body["error"], "retryDelay")
    status = body["error"].get("status") if isinstance(body["error"], dict) else None
    if delay is None and status != "RESOURCE_EXHAUSTED":
        return None
    match = _DURATION.match(delay) if isinstance(delay, str) else None
    return Classification(
        Verdict.TRANSIENT, float(match.group(1)) if match else None, "Google RESOURCE_EXHAUSTED", throttled=True
    )


def _find_key(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        if key in node:
            return node[key]
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_key(child, key)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------- errors


class TransientFailure(DestinationError):
    """Retries ran out (or the server asked for a longer wait than we allow).
    Nothing was delivered: the records are RETRYABLE."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


class OutcomeUnknown(DestinationError):
    """The request was sent and no answer came back; the vendor may have acted on it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _request_was_sent(error: requests.RequestException) -> bool:
    if isinstance(error, requests.ConnectTimeout):
        return False
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError):
        return not isinstance(cause.reason, (NewConnectionError, ConnectTimeoutError))
    return True


# --------------------------------------------------------------------------- client


class VendorHttpClient:
    def __init__(
        self,
        vendor: str,
        base_url: str,
        settings: HttpSettings,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        body_signals: Sequence[BodySignal] = (),
        envelope_signals: Sequence[BodySignal] = (),
        pool_size: int = 4,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.settings = settings
        self.body_signals = tuple(body_signals)
        # For vendors that answer everything HTTP 200 with the verdict in an envelope (TikTok's "code").
        self.envelope_signals = tuple(envelope_signals)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth
        connect_retries = Retry(
            total=None,
            connect=max(settings.max_attempts - 1, 0),
            read=0,
            status=0,
            other=0,
            redirect=0,
            backoff_factor=settings.backoff_base,
            backoff_max=settings.backoff_max,
            backoff_jitter=settings.backoff_base,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1), max_retries=connect_retries)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._limiters: dict[str, RateLimiter] = {}
        self._limiters_lock = threading.Lock()

    def limiter(self, name: str, rate: RateLimit | None) -> RateLimiter:
        """One limiter per vendor rate bucket (endpoints share published limits)."""
        with self._limiters_lock:
            if name not in self._limiters:
                override = self.settings.rate_per_second
                self._limiters[name] = RateLimiter(override if override else rate)
            return self._limiters[name]

    def close(self) -> None:
        self.session.close()

    def classify(self, response: requests.Response) -> Classification:
        for signal in self.body_signals if response.status_code >= 400 else self.envelope_signals:
            classification = signal(response)
            if classification is not None:
                return classification
        return default_classification(response)

    def request(
        self,
        method: str,
        path: str,
        *,
        limiter: RateLimiter | None = None,
        idempotent: bool = True,
        tally: WriteResult | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with pacing and retries. Returns the response when it is a success
        or a fatal (non-retryable, non-auth) error. Raises ``AuthenticationError``,
        ``TransientFailure`` or ``OutcomeUnknown``."""
        limiter = limiter or self.limiter("default", None)
        if kwargs.get("json") is not None and not kwargs.get("data"):
            # Encoded once for every attempt, by orjson: a 100,000-record body costs json (which
            # requests would use) a large share of the write. Non-string keys become strings, as in json.
            kwargs["data"] = orjson.dumps(kwargs.pop("json"), option=orjson.OPT_NON_STR_KEYS)
            headers = CaseInsensitiveDict(kwargs.get("headers") or {})
            if "Content-Type" not in headers and "Content-Type" not in self.session.headers:  # as requests does
                kwargs["headers"] = {**headers, "Content-Type": "application/json"}
        url = path if path.startswith("http") else self.base_url + path
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        attempt = 0
        while True:
            attempt += 1
            limiter.acquire()
            if tally is not None:
                tally.requests += 1
            try:
                response = self.session.request(method, url, timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                # Never format the requests error itself: it carries the URL.
                kind = type(error).__name__
                if _request_was_sent(error) and not idempotent:
                    log.warning("%s %s: no answer (%s); not resent, outcome unknown", self.vendor, method, kind)
                    raise OutcomeUnknown(f"{self.vendor}: request sent but no answer ({kind})") from None
                classification = Classification(Verdict.TRANSIENT, None, kind)
            else:
                classification = self.classify(response)
                self._note_quota(response, limiter)
                if classification.verdict in (Verdict.OK, Verdict.FATAL):
                    return response
                if classification.verdict is Verdict.AUTH:
                    log.error("%s refused the credentials (%s); stopping", self.vendor, classification.reason)
                    raise AuthenticationError(
                        f"{self.vendor} rejected the configured credentials ({classification.reason}); "
                        "check the API key and its scopes"
                    )
            self._wait_before_retry(method, attempt, classification, limiter, tally)

    def _wait_before_retry(
        self,
        method: str,
        attempt: int,
        classification: Classification,
        limiter: RateLimiter,
        tally: WriteResult | None,
    ) -> None:
        wait = classification.wait
        if wait is not None and wait > self.settings.max_server_wait:
            raise TransientFailure(
                f"{self.vendor}: {classification.reason}, asked to wait {wait:.0f}s", retry_after=wait
            )
        if attempt >= self.settings.max_attempts:
            raise TransientFailure(f"{self.vendor}: {classification.reason} after {attempt} attempts", wait)
        delay = wait if wait is not None else self.settings.backoff(attempt)
        log.info(
            "%s %s: %s (attempt %d/%d), retrying in %.3fs",
            self.vendor, method, classification.reason, attempt, self.settings.max_attempts, delay,
        )
        if tally is not None:
            tally.retries += 1
            if classification.throttled:
                tally.throttled_seconds += delay
        if classification.throttled:
            limiter.pause_for(delay)  # everyone sharing the bucket backs off, not just this worker
        time.sleep(delay)

    def _note_quota(self, response: requests.Response, limiter: RateLimiter) -> None:
        """A response that says the window is spent pauses until it resets, so the
        next request does not earn a 429."""
        if response.status_code == 429:
            return
        for remaining_name, reset_name in (
            ("X-RateLimit-Remaining", "X-RateLimit-Reset"),
            ("RateLimit-Remaining", "RateLimit-Reset"),
        ):
            if _float(response.headers.get(remaining_name)) == 0:
                wait = reset_header_seconds(response.headers.get(reset_name))
                if wait:
                    limiter.pause_for(min(wait, self.settings.max_server_wait))
                return


# --------------------------------------------------------------------------- concurrency

T = TypeVar("T")
R = TypeVar("R")


def map_bounded(func: Callable[[T], R], items: Sequence[T], max_workers: int,
                pool: ThreadPoolExecutor | None = None) -> list[R]:
    """Run ``func`` over items with at most ``max_workers`` in flight (for vendors
    with one message per request). Results keep input order. The first
    ``AuthenticationError`` stops new work and is raised once the rest settle.
    ``pool`` (of ``max_workers`` threads) is reused instead of starting threads per call."""
    if max_workers <= 1 or len(items) <= 1:
        return [func(item) for item in items]
    stop = threading.Event()
    auth_error: list[AuthenticationError] = []
    skipped: object = object()

    def guarded(item: T) -> Any:
        if stop.is_set():
            return skipped
        try:
            return func(item)
        except AuthenticationError as error:
            stop.set()
            auth_error.append(error)
            return skipped

    if pool is not None:
        results = list(pool.map(guarded, items))
    else:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="connector") as own:
            results = list(own.map(guarded, items))
    if auth_error:
        raise auth_error[0]
    return results  # type: ignore[return-value]



def settle(records: Sequence[Any], send: Callable[[], list[RecordResult]]) -> list[RecordResult]:
    """Run one vendor call for ``records``; when it cannot finish, every record
    gets the same honest outcome: RETRYABLE (nothing delivered) or UNKNOWN."""
    try:
        return send()
    except TransientFailure as failure:
        return [RecordResult.retryable(record.key, failure.reason) for record in records]
    except OutcomeUnknown as unknown:
        return [RecordResult.unknown(record.key, unknown.reason) for record in records]


# explain(response, batch_size) -> ({index in batch: (reason, vendor code)}, reason for the whole batch)
Explanation = tuple[dict[int, tuple[str, str | None]], str]


def deliver_with_partial_rejects(
    records: Sequence[Any],
    send: Callable[[Sequence[Any]], requests.Response],
    accept: Callable[[Sequence[Any], requests.Response], list[RecordResult]],
    explain: Callable[[requests.Response, int], Explanation],
    max_rounds: int = 3,
) -> list[RecordResult]:
    """For vendors that refuse a whole batch over a few bad records and name them
    (SendGrid's ``personalizations.3...``, Klaviyo's ``/data/.../3``): reject the
    named records with the vendor's reason and send the rest again."""
    outcome: dict[str, RecordResult] = {}
    pending = list(records)
    for _ in range(max_rounds):
        if not pending:
            break
        try:
            response = send(pending)
        except TransientFailure as failure:
            outcome.update({r.key: RecordResult.retryable(r.key, failure.reason) for r in pending})
            pending = []
            break
        except OutcomeUnknown as unknown:
            outcome.update({r.key: RecordResult.unknown(r.key, unknown.reason) for r in pending})
            pending = []
            break
        if response.status_code < 400:
            if len(pending) == len(records):
                return accept(pending, response)  # the usual batch: taken whole at the first try
            outcome.update({result.key: result for result in accept(pending, response)})
            pending = []
            break
        named, general = explain(response, len(pending))
        named = {index: why for index, why in named.items() if 0 <= index < len(pending)}
        code = str(response.status_code)
        if not named:
            outcome.update({r.key: RecordResult.rejected(r.key, general, code) for r in pending})
            pending = []
            break
        for index, (reason, vendor_code) in named.items():
            outcome[pending[index].key] = RecordResult.rejected(pending[index].key, reason, vendor_code or code)
        pending = [record for index, record in enumerate(pending) if index not in named]
    for record in pending:  # the vendor kept finding new faults; leave the rest for the next run
        outcome[record.key] = RecordResult.retryable(record.key, "batch still refused after partial rejects")
    return [outcome[record.key] for record in records]


def probe(client: VendorHttpClient, method: str, path: str, **kwargs: Any) -> tuple[requests.Response | None, str]:
    """One request for a destination's ``check()``: the response, or why there is none."""
    try:
        return client.request(method, path, **kwargs), ""
    except (AuthenticationError, TransientFailure, OutcomeUnknown) as error:
        return None, str(error)


def json_object(response: requests.Response) -> dict[str, Any]:
    """A response's JSON body when it is an object, else {}: vendors' error pages are HTML or empty."""
    try:
        body = orjson.loads(response.content)  # several times json's speed on a batch answer
    except ValueError:  # not UTF-8 JSON: requests guesses the encoding
        try:
            body = response.json()
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}
