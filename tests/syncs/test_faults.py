"""Fault injection against the local servers: 5xx bursts, 429 storms, timeouts and
connection resets mid-batch. After re-runs: every audience equals the warehouse audience,
no action is delivered twice to a destination that deduplicates, none is lost, and
unknowns appear only where the destination cannot deduplicate, bounded by what was in
flight when the answer was lost."""

import pytest

from connectors.vendor_servers import Fault
from connectors.vendor_servers.meta import DEMO_AUDIENCE

from .helpers import audience_spec, deliveries, ledger, member, message_spec, run_until_complete, write_actions, write_audience

FAULTS = {
    # name: (fault, options, whether the request was processed before the answer was lost)
    "5xx burst": (Fault.STATUS, {"count": 6, "status": 503}),
    "429 storm": (Fault.THROTTLE, {"count": 8, "retry_after": None}),
    "timeouts": (Fault.TIMEOUT, {"count": 3, "delay": 0.6, "process_first": True}),
    "resets mid-batch": (Fault.RESET, {"count": 3, "process_first": True}),
}
LOSES_ANSWERS = {"timeouts", "resets mid-batch"}


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch):
    for vendor in ("META", "SENDGRID", "TWILIO", "WEBHOOK", "BRAZE"):
        monkeypatch.setenv(f"THROUGHLINE_{vendor}_HTTP_READ_TIMEOUT", "0.3")


def inject(server, name: str) -> int:
    fault, options = FAULTS[name]
    options = dict(options)
    count = options.pop("count")
    server.inject(fault, count=count, **options)
    return count


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("destination", ["meta", "sendgrid"])
def test_audiences_end_equal_to_the_warehouse(engine, local, destination, fault):
    name = f"champions_to_{destination}"
    spec = audience_spec(name=name, destination=destination, batch_size=None)
    server = local.servers[destination]
    write_audience([member(i) for i in range(300)], name)
    inject(server, fault)
    run_until_complete(spec)
    write_audience([member(i, version=int(i % 7 == 0)) for i in range(40, 360)], name)
    inject(server, fault)
    run_until_complete(spec)

    if destination == "meta":
        from connectors.pii import Platform, hash_identifier

        expected = {bytes.fromhex(hash_identifier("email", f"person{i}@example.com", Platform.META)) for i in range(40, 360)}
        assert server.audiences[DEMO_AUDIENCE] == expected
    else:
        assert server.list_emails(local.env["THROUGHLINE_SENDGRID_LIST_ID"]) == {f"person{i}@example.com" for i in range(40, 360)}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("destination", ["webhook", "twilio", "sendgrid"])
def test_messages_are_delivered_once_and_never_lost(engine, local, destination, fault):
    actions = write_actions(destination, 150)
    spec = message_spec(destination, batch_size=50)
    faulted = inject(local.servers[destination], fault)
    run_until_complete(spec)

    delivered = deliveries(local, destination)
    states = ledger()
    assert all(times == 1 for times in delivered.values()), f"delivered twice: {[a for a, n in delivered.items() if n > 1]}"
    assert {states[a] for a in actions} <= {"sent", "unknown"}, "every action is sent, or marked unknown: none lost"
    sent = {a for a in actions if states[a] == "sent"}
    unknown = {a for a in actions if states[a] == "unknown"}
    assert sent <= set(delivered), "sent means the destination has it"
    assert set(delivered) <= sent | unknown
    deduplicates = destination == "webhook"
    if deduplicates or fault not in LOSES_ANSWERS:
        assert not unknown and set(delivered) == set(actions), "nothing unknown: every action delivered exactly once"
    else:
        per_request = 1 if destination == "twilio" else 50
        assert 0 < len(unknown) <= faulted * per_request, "unknowns are bounded by what was in flight"
