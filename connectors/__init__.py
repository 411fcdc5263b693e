"""Throughline connectors: one destination interface, one HTTP layer, and a
module per vendor. A sync layer needs only what is re-exported here:

    from connectors import Operation, Record, create
    with create("sendgrid") as destination:          # settings from THROUGHLINE_SENDGRID_*
        if not destination.check().ok: ...
        result = destination.write(Operation.SEND_MESSAGES, records)
        for r in result.results: ...                  # one RecordResult per record
"""

from connectors.base import (
    AuthenticationError,
    Capabilities,
    CheckResult,
    ConfigurationError,
    Destination,
    DestinationError,
    Operation,
    OperationLimits,
    RateLimit,
    Record,
    RecordResult,
    RecordStatus,
    UnsupportedOperation,
    WriteResult,
)
from connectors.registry import available, create, destination_class, register

__all__ = [
    "AuthenticationError",
    "Capabilities",
    "CheckResult",
    "ConfigurationError",
    "Destination",
    "DestinationError",
    "Operation",
    "OperationLimits",
    "RateLimit",
    "Record",
    "RecordResult",
    "RecordStatus",
    "UnsupportedOperation",
    "WriteResult",
    "available",
    "create",
    "destination_class",
    "register",
]
