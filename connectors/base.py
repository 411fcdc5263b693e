"""The destination interface: what a sync hands a destination, and what it gets back.

A sync calls ``destination.write(operation, records, target=...)`` with records
of any number, as a list or any iterable. The destination splits them at the
vendor's limits, speaks the vendor's API, and returns exactly one ``RecordResult``
per input record, in order. ``destination.write_stream(...)`` does the same one
vendor batch at a time (iterator in, one ``WriteResult`` per acknowledged batch
out), so a sync of millions of rows holds one batch in memory, never the audience,
and can advance its ledger batch by batch.
The sync advances its ledger only from those results: ``ACCEPTED`` rows are done,
``REJECTED`` rows carry the vendor's reason and must not be retried unchanged,
``RETRYABLE`` rows were not delivered and may be sent again, and ``UNKNOWN`` rows
may or may not have been delivered (the request reached a vendor that cannot
deduplicate and no answer came back), so they are marked rather than guessed.

Record fields use one vocabulary across destinations (a sync model's columns):
  identity   email, phone, external_id, first_name, last_name
  profile    properties (dict of custom attributes), status (an email subscription status
             derived from consent, for the destinations that keep one)
  message    subject, text, html, template_id, template_data (dict), from_email
  event      event_name, occurred_at (ISO 8601), properties, value
Each destination documents which fields it reads.
"""

from __future__ import annotations

import enum
import itertools
import json
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, NamedTuple

from connectors.pii import Platform
from connectors.redaction import scrub, without_record_values


_KEY, _STATUS, _REASON = attrgetter("key"), attrgetter("status"), attrgetter("reason")


class Operation(enum.StrEnum):
    UPSERT_PROFILES = "upsert_profiles"
    ADD_AUDIENCE_MEMBERS = "add_audience_members"
    REMOVE_AUDIENCE_MEMBERS = "remove_audience_members"
    SEND_MESSAGES = "send_messages"
    TRACK_EVENTS = "track_events"
    DELETE_PROFILES = "delete_profiles"  # erasure requests: the vendor forgets the person


class RecordStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RETRYABLE = "retryable"
    UNKNOWN = "unknown"


# Record and RecordResult are named tuples, not frozen dataclasses: a sync makes one of each per
# row, and a tuple is built in C where a frozen dataclass's __init__ sets every field through
# object.__setattr__ (three times the cost, a large share of a 100,000-record audience batch).


class Record(NamedTuple):
    """One row to deliver. ``key`` is deterministic (an action id or a member key)
    and doubles as the idempotency key wherever the vendor accepts one."""

    key: str
    fields: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.fields.get(name, default)
        return default if value is None else value


class RecordResult(NamedTuple):
    key: str
    status: RecordStatus
    reason: str | None = None
    vendor_code: str | None = None
    vendor_id: str | None = None  # message id, job id: what the vendor called it

    @classmethod
    def accepted(cls, key: str, vendor_id: str | None = None) -> RecordResult:
        return cls(key, RecordStatus.ACCEPTED, vendor_id=vendor_id)

    @classmethod
    def rejected(cls, key: str, reason: str, code: str | None = None) -> RecordResult:
        return cls(key, RecordStatus.REJECTED, reason=reason, vendor_code=code)

    @classmethod
    def retryable(cls, key: str, reason: str, code: str | None = None) -> RecordResult:
        return cls(key, RecordStatus.RETRYABLE, reason=reason, vendor_code=code)

    @classmethod
    def unknown(cls, key: str, reason: str) -> RecordResult:
        return cls(key, RecordStatus.UNKNOWN, reason=reason)

    @classmethod
    def for_keys(cls, keys: list[str], status: RecordStatus, reason: str | None = None,
                 vendor_code: str | None = None, vendor_id: str | None = None) -> SameOutcome:
        """The same outcome for many records (a batch the vendor took or refused whole)."""
        return SameOutcome(keys, status, reason, vendor_code, vendor_id)


class SameOutcome(Sequence[RecordResult]):
    """One outcome for the records of ``keys``, in order, whose ``RecordResult`` tuples are made
    when read. Counted, it makes none: at 100,000 results a batch the tuples themselves are cheap,
    but their allocation sets off the cyclic collector, which walks the whole heap each time."""

    __slots__ = ("keys", "status", "reason", "vendor_code", "vendor_id")

    def __init__(self, keys: list[str], status: RecordStatus, reason: str | None = None,
                 vendor_code: str | None = None, vendor_id: str | None = None) -> None:
        self.keys, self.status, self.reason = keys, status, reason
        self.vendor_code, self.vendor_id = vendor_code, vendor_id

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]  # int -> RecordResult, slice -> list
        if isinstance(index, slice):
            return list(SameOutcome(self.keys[index], self.status, self.reason, self.vendor_code, self.vendor_id))
        return RecordResult(self.keys[index], self.status, self.reason, self.vendor_code, self.vendor_id)

    def __iter__(self) -> Iterator[RecordResult]:
        new, shared = tuple.__new__, (self.status, self.reason, self.vendor_code, self.vendor_id)
        return (new(RecordResult, (key, *shared)) for key in self.keys)  # tuple.__new__: no Python frame each

    def __repr__(self) -> str:
        return f"SameOutcome({len(self.keys)} x {self.status.value})"


@dataclass
class WriteResult:
    """Per-record outcomes of one ``write`` call plus what it cost."""

    operation: Operation
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    duration_seconds: float = 0.0
    # The batches' outcomes as they came (lists, or SameOutcome for a batch answered whole);
    # ``results`` joins them into one list when it is first read.
    parts: list[Sequence[RecordResult]] = field(default_factory=list, repr=False)

    @property
    def results(self) -> list[RecordResult]:
        """One per record, in order."""
        if len(self.parts) != 1 or not isinstance(self.parts[0], list):
            self.parts = [[result for part in self.parts for result in part]]
        return self.parts[0]  # type: ignore[return-value]

    @results.setter
    def results(self, results: Sequence[RecordResult]) -> None:
        self.parts = [results]

    def absorb(self, part: WriteResult) -> None:
        """Add one batch's outcomes and costs to this running total."""
        self.parts.extend(part.parts)
        self.requests += part.requests
        self.retries += part.retries
        self.throttled_seconds += part.throttled_seconds

    def counts(self) -> dict[str, int]:
        tally: Counter[RecordStatus] = Counter()
        for part in self.parts:
            if isinstance(part, SameOutcome):
                tally[part.status] += len(part)
            else:
                tally.update(map(_STATUS, part))  # in C: a sync counts every batch's results
        return {status.value: tally.get(status, 0) for status in RecordStatus}

    def with_status(self, status: RecordStatus) -> list[RecordResult]:
        return [result for part in self.parts if not isinstance(part, SameOutcome) or part.status is status
                for result in part if result.status is status]

    def summary(self, sample_size: int = 5) -> dict[str, Any]:
        """Metadata for Dagster and the run tables. Reasons are scrubbed of
        personal data: vendors echo addresses and numbers in their messages."""
        rejected = self.with_status(RecordStatus.REJECTED)[:sample_size]
        return {
            "operation": self.operation.value,
            **self.counts(),
            "requests": self.requests,
            "retries": self.retries,
            "throttled_seconds": round(self.throttled_seconds, 3),
            "duration_seconds": round(self.duration_seconds, 3),
            "rejected_sample": [
                {"key": r.key, "code": r.vendor_code, "reason": scrub(r.reason or "")}
                for r in rejected
            ],
        }


@dataclass(frozen=True)
class RateLimit:
    """A vendor's published request rate, as ``requests`` per ``per_seconds``."""

    requests: float
    per_seconds: float = 1.0

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds


@dataclass(frozen=True)
class OperationLimits:
    max_records: int
    max_bytes: int | None = None
    rate: RateLimit | None = None
    # True when the vendor deduplicates a resend of the same record (an
    # idempotency key, an event unique_id, an upsert): such requests may be
    # retried even when the first attempt's outcome is unknown.
    idempotent: bool = True


@dataclass(frozen=True)
class Capabilities:
    operations: Mapping[Operation, OperationLimits]
    max_concurrency: int = 1  # >1 only for one-message-per-request APIs
    needs_target: frozenset[Operation] = frozenset()  # operations that need a list/audience id
    # Vendor codes of a rejected message that mean the address is gone for good (FCM's UNREGISTERED):
    # the sync records a hard bounce of the channel, so journeys stop sending there.
    blocking_codes: frozenset[str] = frozenset()

    def limits(self, operation: Operation) -> OperationLimits:
        try:
            return self.operations[operation]
        except KeyError:
            raise UnsupportedOperation(operation) from None


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


class DestinationError(Exception):
    """Base of every error a destination raises on purpose."""


class ConfigurationError(DestinationError):
    pass


class AuthenticationError(DestinationError):
    """The vendor refused our credentials. Retrying cannot help; the sync stops.
    ``partial`` holds the results of the batches that completed before it, so
    the ledger can still record what was delivered."""

    partial: WriteResult | None = None


class _NotSent(Exception):
    """A queued batch that was not sent: an earlier one failed or the caller stopped."""


class UnsupportedOperation(DestinationError):
    def __init__(self, operation: Operation) -> None:
        super().__init__(f"operation {operation.value!r} is not supported by this destination")


class Destination(ABC):
    """A vendor endpoint the syncs deliver to. Subclasses declare ``name`` and
    ``capabilities`` as data and implement ``from_env``, ``check`` and
    ``write_batch``; the splitting and bookkeeping live here."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # The platform whose rules hash email/phone/names before they leave (connectors.pii):
    # a warehouse may hash them itself the same way (pii.sql_prehash); digests pass through.
    hashes_identifiers: ClassVar[Platform | None] = None

    @classmethod
    @abstractmethod
    def from_env(cls, env: Mapping[str, str] | None = None, prefix: str | None = None) -> Destination:
        """Build from environment variables (``prefix`` defaults to THROUGHLINE_<NAME>)."""

    @abstractmethod
    def check(self) -> CheckResult:
        """Cheap round trip proving the configuration and credentials work."""

    @abstractmethod
    def write_batch(
        self, operation: Operation, records: Sequence[Record], target: str | None, result: WriteResult
    ) -> list[RecordResult]:
        """Deliver records that fit the vendor's per-operation limits. Count
        requests/retries on ``result``. Raise ``AuthenticationError`` on bad credentials."""

    def batches(self, operation: Operation, records: Iterable[Record]) -> Iterator[Sequence[Record]]:
        """Split for ``write_batch``, lazily: ``records`` may be a generator. Destinations
        whose byte limit depends on the vendor encoding override this with
        ``split_by_limits`` over encoded items."""
        return chunked(records, self.capabilities.limits(operation).max_records)

    def write_stream(
        self, operation: Operation, records: Iterable[Record], *, target: str | None = None
    ) -> Iterator[WriteResult]:
        """Deliver batch by batch: yields one ``WriteResult`` per vendor batch as soon
        as the vendor answered it. At most three batches are held in memory (one answered, one on the
        wire, one queued) and the caller's iterator is read one batch ahead. On bad
        credentials raises ``AuthenticationError`` (``partial`` = the failed batch's costs)."""
        self.capabilities.limits(operation)  # raises UnsupportedOperation, before any work
        if operation in self.capabilities.needs_target and not target:
            raise ConfigurationError(f"{self.name}: {operation.value} needs a target list or audience id")
        return self._stream(operation, records, target)

    def _stream(self, operation: Operation, records: Iterable[Record], target: str | None) -> Iterator[WriteResult]:
        # A bounded pipeline on one sender thread. Batches are read and prepared here
        # (``batches`` pulls from the caller's iterator, often the warehouse) and queued; a
        # batch is yielded once its answer is in and two more are queued behind it, so while
        # the caller acknowledges it (a commit, now and then a checkpoint) the sender goes
        # from one answer straight to the next request and the wire is not left idle.
        # Requests still go out one at a time and in order; after a failed batch nothing
        # more is sent.
        stopped = threading.Event()

        def send(batch: Sequence[Record]) -> WriteResult:
            if stopped.is_set():
                raise _NotSent
            try:
                return self._send(operation, batch, target)
            except BaseException:
                stopped.set()
                raise

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-send") as sender:
            in_flight: deque[Future[WriteResult]] = deque()
            try:
                for batch in self.batches(operation, records):
                    in_flight.append(sender.submit(send, batch))
                    if len(in_flight) > 2:
                        yield in_flight.popleft().result()  # acknowledged while the next two are sent
                while in_flight:
                    yield in_flight.popleft().result()
            finally:
                stopped.set()  # the caller stopped early or a batch failed: the queued batch is not sent

    def _send(self, operation: Operation, batch: Sequence[Record], target: str | None) -> WriteResult:
        started = time.monotonic()
        tally = WriteResult(operation)
        try:
            batch_results = self.write_batch(operation, batch, target, tally)
        except AuthenticationError as error:
            tally.duration_seconds = time.monotonic() - started
            error.partial = tally
            raise
        keys = batch_results.keys if isinstance(batch_results, SameOutcome) else list(map(_KEY, batch_results))
        if len(batch_results) != len(batch) or keys != list(map(_KEY, batch)):
            raise AssertionError(f"{self.name}.write_batch must return one result per record, in order")
        tally.results = _reasons_without_pii(batch, batch_results)
        tally.duration_seconds = time.monotonic() - started
        return tally

    def write(
        self, operation: Operation, records: Iterable[Record], *, target: str | None = None
    ) -> WriteResult:
        """All of ``write_stream`` collected into one result (one entry per record)."""
        started = time.monotonic()
        total = WriteResult(operation)
        try:
            for part in self.write_stream(operation, records, target=target):
                total.absorb(part)
        except AuthenticationError as error:
            if error.partial is not None:
                total.absorb(error.partial)
            total.duration_seconds = time.monotonic() - started
            error.partial = total
            raise
        total.duration_seconds = time.monotonic() - started
        return total

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release pooled connections; destinations holding none need not override."""

    def __enter__(self) -> Destination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reasons_without_pii(records: Sequence[Record], results: Sequence[RecordResult]) -> Sequence[RecordResult]:
    """Reasons go to logs, run metadata and the ledger; keep the vendor's words
    but not the customer's address or number that the vendor echoed back."""
    if isinstance(results, SameOutcome) and results.reason is None:
        return results
    return [
        result._replace(reason=without_record_values(result.reason, record.fields)) if result.reason else result
        for record, result in zip(records, results, strict=True)
    ] if any(map(_REASON, results)) else results


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items, pulling lazily from ``items``."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def json_size(payload: Any) -> int:
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def split_by_limits(
    items: Iterable[Any],
    max_records: int,
    max_bytes: int | None,
    size_of: Callable[[Any], int],
    envelope_bytes: int = 256,
) -> Iterator[list[Any]]:
    """Greedy split so that each chunk has at most ``max_records`` items and its
    encoded size (items plus one comma each, plus the request envelope) stays
    under ``max_bytes``. An item too large on its own still gets a chunk of its
    own: the vendor's per-record rejection is the honest answer for it."""
    chunk: list[Any] = []
    chunk_bytes = envelope_bytes
    for item in items:
        item_bytes = size_of(item) + 1
        too_many = len(chunk) >= max_records
        too_big = max_bytes is not None and chunk and chunk_bytes + item_bytes > max_bytes
        if too_many or too_big:
            yield chunk
            chunk, chunk_bytes = [], envelope_bytes
        chunk.append(item)
        chunk_bytes += item_bytes
    if chunk:
        yield chunk
