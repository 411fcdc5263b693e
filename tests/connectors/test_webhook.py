"""Generic webhook contract tests against the local receiver."""

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault
from connectors.webhook_signing import signature, verify


def rows(count):
    return [Record(f"row-{i}", {"email": f"r{i}@example.com", "score": i}) for i in range(count)]


def test_check_sends_a_signed_empty_batch(webhook, webhook_server):
    assert webhook.check().ok
    assert not webhook_server.received


def test_batches_are_signed_split_and_applied_once(webhook, webhook_server):
    result = webhook.write(Operation.UPSERT_PROFILES, rows(120))
    assert result.counts()["accepted"] == 120
    assert len(webhook_server.requests_to("/hooks/throughline")) == 3  # BATCH_SIZE=50
    assert set(webhook_server.received.values()) == {1}


def test_replayed_batch_is_recognised_by_idempotency_key(webhook, webhook_server):
    webhook.write(Operation.UPSERT_PROFILES, rows(10))
    webhook.write(Operation.UPSERT_PROFILES, rows(10))  # a crashed run replays
    assert set(webhook_server.received.values()) == {1}


def test_lost_answer_is_retried_because_batches_are_idempotent(webhook_env, webhook_server):
    webhook_server.inject(Fault.RESET, process_first=True)
    with create("webhook", webhook_env) as webhook:
        result = webhook.write(Operation.SEND_MESSAGES, rows(5))
    assert result.counts()["accepted"] == 5 and result.retries == 1
    assert set(webhook_server.received.values()) == {1}


def test_receiver_rejects_are_per_record(webhook, webhook_server):
    webhook_server.reject_keys = {"row-2": "unknown customer"}
    result = webhook.write(Operation.TRACK_EVENTS, rows(4))
    assert result.results[2].status is RecordStatus.REJECTED
    assert result.results[2].reason == "unknown customer"
    assert result.counts()["accepted"] == 3


def test_throttle_and_server_errors_are_retried(webhook, webhook_server):
    webhook_server.inject(Fault.THROTTLE, retry_after=0)
    webhook_server.inject(Fault.STATUS, status=502)
    result = webhook.write(Operation.UPSERT_PROFILES, rows(3))
    assert result.counts()["accepted"] == 3 and result.retries == 2


def test_oversized_batch_is_rejected_not_retried(webhook_env, webhook_server):
    webhook_server.max_batch_size = 10
    with create("webhook", webhook_env) as webhook:
        result = webhook.write(Operation.UPSERT_PROFILES, rows(20))
    assert result.counts()["rejected"] == 20
    assert len(webhook_server.request_log) == 1


def test_wrong_secret_is_one_clear_error(webhook_env, webhook_server):
    env = {**webhook_env, "THROUGHLINE_WEBHOOK_SECRET": "not-the-secret-42"}
    with create("webhook", env) as webhook:
        assert not webhook.check().ok
        with pytest.raises(AuthenticationError):
            webhook.write(Operation.UPSERT_PROFILES, rows(200))
    assert len(webhook_server.request_log) == 2  # the check and the first batch


def test_extra_headers_are_sent(webhook_env, webhook_server):
    env = {**webhook_env, "THROUGHLINE_WEBHOOK_HEADERS": '{"X-Tenant": "shop-1"}'}
    with create("webhook", env) as webhook:
        assert webhook.client.session.headers["X-Tenant"] == "shop-1"
        assert webhook.write(Operation.UPSERT_PROFILES, rows(1)).counts()["accepted"] == 1


def test_signature_scheme():
    body = b'{"records":[]}'
    signed = signature("secret-value", "1700000000", body)
    assert signed.startswith("v1=") and len(signed) == 67
    assert not verify("secret-value", "1700000000", signed, body)  # stale timestamp
