"""Twilio contract tests against the local Twilio server."""

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault


def sms(numbers):
    return [
        Record(f"sms-{i}", {"phone": number, "text": f"Your order {i} shipped"}) for i, number in enumerate(numbers)
    ]


def numbers(count):
    return [f"+1415555{i:04d}" for i in range(count)]


def test_check_accepts_the_credentials(twilio):
    assert twilio.check().ok


def test_send_one_message_per_request(twilio, twilio_server):
    result = twilio.write(Operation.SEND_MESSAGES, sms(numbers(12) + ["(415) 555-9999"]))
    assert result.counts()["accepted"] == 13
    assert all(r.vendor_id.startswith("SM") for r in result.results)
    assert len(twilio_server.requests_to("/2010-04-01/Accounts/", "POST")) == 13
    assert len(twilio_server.messages_to("+14155559999")) == 1  # normalised to E.164


def test_vendor_error_codes_are_per_record_rejects(twilio, twilio_server):
    result = twilio.write(Operation.SEND_MESSAGES, sms(["+14155550100", "+15005550001", "+15005550004"]))
    by_key = {r.key: r for r in result.results}
    assert by_key["sms-0"].status is RecordStatus.ACCEPTED
    assert (by_key["sms-1"].status, by_key["sms-1"].vendor_code) == (RecordStatus.REJECTED, "21211")
    assert by_key["sms-2"].vendor_code == "21610"
    assert by_key["sms-2"].reason == "Attempt to send to unsubscribed recipient"
    # 4xx answers are final: three requests for three records
    assert len(twilio_server.requests_to("/2010-04-01/Accounts/", "POST")) == 3


def test_unparseable_number_never_leaves(twilio, twilio_server):
    result = twilio.write(Operation.SEND_MESSAGES, sms(["call me maybe"]))
    assert result.results[0].status is RecordStatus.REJECTED
    assert not twilio_server.request_log


def test_20429_is_backed_off_and_retried(twilio, twilio_server):
    twilio_server.inject(Fault.THROTTLE, count=3, retry_after=None)
    result = twilio.write(Operation.SEND_MESSAGES, sms(numbers(5)))
    assert result.counts()["accepted"] == 5 and result.retries == 3
    assert len(twilio_server.messages) == 5


def test_server_errors_are_retried_without_duplicates(twilio, twilio_server):
    twilio_server.inject(Fault.STATUS, count=4, status=503)
    result = twilio.write(Operation.SEND_MESSAGES, sms(numbers(6)))
    assert result.counts()["accepted"] == 6
    assert sorted(m["to"] for m in twilio_server.messages) == numbers(6)


def test_lost_answer_is_unknown_and_not_resent(twilio_env, twilio_server):
    twilio_server.inject(Fault.TIMEOUT, delay=0.6, process_first=True)
    with create("twilio", {**twilio_env, "THROUGHLINE_TWILIO_HTTP_READ_TIMEOUT": "0.3"}) as twilio:
        result = twilio.write(Operation.SEND_MESSAGES, sms(numbers(1)))
    assert result.results[0].status is RecordStatus.UNKNOWN
    assert len(twilio_server.messages) == 1  # Twilio queued it; we did not send it again


def test_slow_answers_within_the_timeout_are_fine(twilio, twilio_server):
    twilio_server.inject(Fault.SLOW, count=2, delay=0.2)
    assert twilio.write(Operation.SEND_MESSAGES, sms(numbers(4))).counts()["accepted"] == 4


def test_status_callback_carries_the_action_id(twilio_env, twilio_server):
    env = {**twilio_env, "THROUGHLINE_TWILIO_STATUS_CALLBACK": "https://hooks.shop.example/twilio"}
    with create("twilio", env) as destination:
        destination.write(Operation.SEND_MESSAGES, sms(numbers(1)))
    assert twilio_server.messages[0]["status_callback"].endswith("?throughline_action_id=sms-0")


def test_bad_credential_stops_all_workers(twilio_env, twilio_server):
    env = {
        **twilio_env,
        "THROUGHLINE_TWILIO_AUTH_TOKEN": "wrong-token-000000",
        "THROUGHLINE_TWILIO_MAX_CONCURRENCY": "4",
    }
    with create("twilio", env) as destination, pytest.raises(AuthenticationError, match="twilio rejected"):
        destination.write(Operation.SEND_MESSAGES, sms(numbers(200)))
    assert len(twilio_server.request_log) <= 4  # at most the requests already in flight
    assert not twilio_server.messages
