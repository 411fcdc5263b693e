"""SendGrid contract tests against the local SendGrid server."""

import time

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault
from connectors.vendor_servers.sendgrid import IDEMPOTENCY_ARG


def mail(count, bad=(), start=0):
    return [
        Record(
            f"action-{i}",
            {"email": "not-an-address" if i in bad else f"user{i}@example.com", "subject": "Your cart",
             "template_id": "d-cart", "template_data": {"first_name": f"U{i}"}},
        )
        for i in range(start, start + count)
    ]


def contacts(count, **extra):
    return [Record(f"member-{i}", {"email": f"member{i}@example.com", "first_name": "Ada", **extra})
            for i in range(count)]


def test_check_accepts_the_key(sendgrid):
    assert sendgrid.check().ok


def test_send_happy_path(sendgrid, sendgrid_server):
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(3))
    assert result.counts()["accepted"] == 3
    message_ids = {r.vendor_id for r in result.results}
    assert len(message_ids) == 1 and None not in message_ids  # X-Message-Id of the one request
    sent = sendgrid_server.messages_by_key
    assert sorted(sent) == ["action-0", "action-1", "action-2"]
    assert sent["action-1"][0]["personalization"]["dynamic_template_data"] == {"first_name": "U1"}
    assert sent["action-1"][0]["custom_args"] == {IDEMPOTENCY_ARG: "action-1"}


def test_send_splits_at_1000_personalizations(sendgrid, sendgrid_server):
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(2001))
    assert result.counts()["accepted"] == 2001
    assert len(sendgrid_server.requests_to("/v3/mail/send")) == 3
    assert all(len(v) == 1 for v in sendgrid_server.messages_by_key.values())


def test_contacts_split_at_six_megabytes(sendgrid, sendgrid_server):
    big = {"w1": "x" * 20_000}  # ~20 kB per contact: 400 of them are ~8 MB
    result = sendgrid.write(Operation.UPSERT_PROFILES, contacts(400, properties=big))
    assert result.counts()["accepted"] == 400
    requests = sendgrid_server.requests_to("/v3/marketing/contacts", "PUT")
    assert len(requests) == 2 and all(r.status == 202 for r in requests)
    assert len(sendgrid_server.contacts) == 400


def test_invalid_address_is_rejected_with_vendor_reason_and_rest_delivered(sendgrid, sendgrid_server):
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(5, bad={1, 3}))
    by_key = {r.key: r for r in result.results}
    assert by_key["action-1"].status is RecordStatus.REJECTED
    assert by_key["action-1"].reason == "Does not contain a valid address."
    assert by_key["action-3"].status is RecordStatus.REJECTED
    assert sorted(sendgrid_server.messages_by_key) == ["action-0", "action-2", "action-4"]
    # one refused request naming both, one resend of the rest
    assert [r.status for r in sendgrid_server.requests_to("/v3/mail/send")] == [400, 202]


def test_contact_reject_names_the_record(sendgrid, sendgrid_server):
    records = contacts(3)
    records[2] = Record("member-2", {"email": "broken"})
    result = sendgrid.write(Operation.UPSERT_PROFILES, records)
    assert [r.status.value for r in result.results] == ["accepted", "accepted", "rejected"]
    assert result.results[2].reason == "email is invalid"


def test_other_4xx_is_not_retried(sendgrid, sendgrid_server):
    result = sendgrid.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(2), target="no-such-list")
    assert result.counts()["rejected"] == 2
    assert "does not exist" in result.results[0].reason
    assert len(sendgrid_server.requests_to("/v3/marketing/contacts")) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(sendgrid, sendgrid_server, status):
    sendgrid_server.inject(Fault.STATUS, count=2, status=status)
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(4))
    assert result.counts()["accepted"] == 4 and result.retries == 2
    assert all(len(v) == 1 for v in sendgrid_server.messages_by_key.values())


def test_throttle_honours_x_ratelimit_reset(sendgrid, sendgrid_server):
    # SendGrid's own signal: 429 with X-RateLimit-Reset as a Unix timestamp, no Retry-After.
    sendgrid_server.inject(Fault.THROTTLE, retry_after=1)
    reset_at = int(time.time()) + 1
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(2))
    assert result.counts()["accepted"] == 2
    assert time.time() >= reset_at - 0.05
    assert result.throttled_seconds > 0


def test_throttle_without_reset_header_backs_off(sendgrid, sendgrid_server):
    sendgrid_server.inject(Fault.THROTTLE, count=3, retry_after=None)
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(2))
    assert result.counts()["accepted"] == 2 and result.retries == 3


def test_persistent_throttling_leaves_records_retryable(sendgrid, sendgrid_server):
    sendgrid_server.inject(Fault.THROTTLE, count=10, retry_after=None)
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(2))
    assert result.counts()["retryable"] == 2
    assert not sendgrid_server.messages


def test_lost_answer_on_mail_send_is_unknown_not_resent(sendgrid, sendgrid_server):
    sendgrid_server.inject(Fault.RESET, process_first=True, path_prefix="/v3/mail/send")
    result = sendgrid.write(Operation.SEND_MESSAGES, mail(3))
    assert result.counts()["unknown"] == 3
    assert len(sendgrid_server.requests_to("/v3/mail/send")) == 1
    assert all(len(v) == 1 for v in sendgrid_server.messages_by_key.values())


def test_timeouts_on_idempotent_contacts_are_retried(sendgrid_env, sendgrid_server):
    sendgrid_server.inject(Fault.TIMEOUT, delay=0.6, process_first=True)
    with create("sendgrid", {**sendgrid_env, "THROUGHLINE_SENDGRID_HTTP_READ_TIMEOUT": "0.3"}) as sendgrid:
        result = sendgrid.write(Operation.UPSERT_PROFILES, contacts(3))
    assert result.counts()["accepted"] == 3
    assert len(sendgrid_server.contacts) == 3


def test_list_membership_add_and_remove(sendgrid, sendgrid_server):
    list_id = sendgrid_server.create_list()
    members = contacts(5)
    assert sendgrid.write(Operation.ADD_AUDIENCE_MEMBERS, members, target=list_id).counts()["accepted"] == 5
    assert len(sendgrid_server.list_emails(list_id)) == 5
    leaving = members[:2] + [Record("stranger", {"email": "nobody@example.com"})]
    result = sendgrid.write(Operation.REMOVE_AUDIENCE_MEMBERS, leaving, target=list_id)
    assert result.counts()["accepted"] == 3
    assert sendgrid_server.list_emails(list_id) == {f"member{i}@example.com" for i in (2, 3, 4)}


def test_bad_credential_is_one_clear_error(sendgrid_env, sendgrid_server):
    env = {**sendgrid_env, "THROUGHLINE_SENDGRID_API_KEY": "SG.wrong-key-987654321"}
    with create("sendgrid", env) as destination:
        check = destination.check()
        assert not check.ok and "rejected the configured credentials" in check.message
        with pytest.raises(AuthenticationError, match="sendgrid rejected the configured credentials"):
            destination.write(Operation.SEND_MESSAGES, mail(2500))
    assert len(sendgrid_server.requests_to("/v3/mail/send")) == 1
    assert "wrong-key" not in check.message
