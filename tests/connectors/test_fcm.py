"""FCM HTTP v1 contract tests against the local FCM server (real HTTP, real RS256 JWTs)."""

import json
import logging

import pytest

from connectors import AuthenticationError, ConfigurationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault, FcmServer
from connectors.vendor_servers.fcm import make_service_account
from tests.connectors.conftest import env_for

SEND = "/v1/projects/throughline-demo/messages:send"


@pytest.fixture
def fcm_server():
    with FcmServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def fcm_env(fcm_server):
    return env_for("THROUGHLINE_FCM", SERVICE_ACCOUNT=json.dumps(fcm_server.service_account),
                   BASE_URL=fcm_server.base_url)


@pytest.fixture
def fcm(fcm_env):
    with create("fcm", fcm_env) as destination:
        yield destination


def token(i):
    return f"fGcmDeviceToken_{i:04d}:APA91bH-example"


def pushes(count, **extra):
    return [Record(f"push-{i}", {"token": token(i), "title": "Back in stock", "body": "Your size is back",
                                 "data": {"sku": "A-1", "qty": 2}, **extra}) for i in range(count)]


def test_check_gets_an_access_token(fcm, fcm_server):
    assert fcm.check().ok and fcm_server.token_requests == 1


def test_one_message_per_request_and_the_token_is_cached(fcm, fcm_server):
    result = fcm.write(Operation.SEND_MESSAGES, pushes(20, link="https://shop.example/p/A-1"))
    assert result.counts()["accepted"] == 20
    assert all(r.vendor_id.startswith("projects/throughline-demo/messages/") for r in result.results)
    assert len(fcm_server.requests_to(SEND, "POST")) == 20
    assert fcm_server.token_requests == 1
    sent = fcm_server.messages_to(token(3))[0]
    assert sent["data"] == {"sku": "A-1", "qty": "2", "link": "https://shop.example/p/A-1", "throughline_action_id": "push-3"}
    assert sent["notification"] == {"title": "Back in stock", "body": "Your size is back"}


def test_a_file_path_works_as_the_service_account(fcm_server, tmp_path):
    key = tmp_path / "sa.json"
    key.write_text(json.dumps(fcm_server.service_account))
    env = env_for("THROUGHLINE_FCM", SERVICE_ACCOUNT=str(key), BASE_URL=fcm_server.base_url)
    with create("fcm", env) as destination:
        assert destination.write(Operation.SEND_MESSAGES, pushes(2)).counts()["accepted"] == 2


def test_batches_split_at_the_declared_limit(fcm, fcm_server):
    limit = fcm.capabilities.limits(Operation.SEND_MESSAGES).max_records
    assert [len(b) for b in fcm.batches(Operation.SEND_MESSAGES, pushes(limit + 3))] == [limit, 3]


def test_per_message_errors_carry_fcm_error_codes(fcm, fcm_server):
    fcm_server.unregistered.add(token(1))
    fcm_server.mismatched.add(token(2))
    records = pushes(3) + [Record("bad", {"token": "not a token", "title": "t"})]
    by_key = {r.key: r for r in fcm.write(Operation.SEND_MESSAGES, records).results}
    assert by_key["push-0"].status is RecordStatus.ACCEPTED
    assert (by_key["push-1"].status, by_key["push-1"].vendor_code) == (RecordStatus.REJECTED, "UNREGISTERED")
    assert by_key["push-2"].vendor_code == "SENDER_ID_MISMATCH"  # a 403 about one token, not our credentials
    assert by_key["bad"].vendor_code == "INVALID_ARGUMENT"
    assert len(fcm_server.requests_to(SEND, "POST")) == 4  # 4xx answers are final


@pytest.mark.parametrize("retry_after", [None, 1])
def test_quota_exceeded_is_retried(fcm, fcm_server, retry_after):
    fcm.access_token()  # faults hit the next requests: let them be message sends
    fcm_server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = fcm.write(Operation.SEND_MESSAGES, pushes(3))
    assert result.counts()["accepted"] == 3 and result.retries == 2
    assert len(fcm_server.messages) == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_without_duplicates(fcm, fcm_server, status):
    fcm.access_token()
    fcm_server.inject(Fault.STATUS, count=3, status=status)
    assert fcm.write(Operation.SEND_MESSAGES, pushes(4)).counts()["accepted"] == 4
    assert sorted(m["token"] for m in fcm_server.messages) == [token(i) for i in range(4)]


def test_lost_answer_is_unknown_and_not_resent(fcm_env, fcm_server):
    with create("fcm", {**fcm_env, "THROUGHLINE_FCM_HTTP_READ_TIMEOUT": "0.3"}) as destination:
        destination.access_token()
        fcm_server.inject(Fault.TIMEOUT, delay=0.6, process_first=True)
        result = destination.write(Operation.SEND_MESSAGES, pushes(1))
    assert result.results[0].status is RecordStatus.UNKNOWN
    assert len(fcm_server.messages) == 1


def test_a_revoked_access_token_is_renewed_once(fcm, fcm_server):
    fcm.write(Operation.SEND_MESSAGES, pushes(1))
    fcm_server.expire_tokens()
    assert fcm.write(Operation.SEND_MESSAGES, pushes(1)).counts()["accepted"] == 1
    assert fcm_server.token_requests == 2


def test_a_key_the_server_does_not_know_is_one_clear_error(fcm_server, caplog):
    other = make_service_account(fcm_server.service_account["token_uri"])  # same email, other RSA key
    env = env_for("THROUGHLINE_FCM", SERVICE_ACCOUNT=json.dumps(other), BASE_URL=fcm_server.base_url)
    with caplog.at_level(logging.DEBUG), create("fcm", env) as destination:
        with pytest.raises(AuthenticationError, match="token endpoint refused"):
            destination.write(Operation.SEND_MESSAGES, pushes(5))
    assert not fcm_server.requests_to(SEND)
    assert other["private_key"].splitlines()[1] not in caplog.text


def test_a_malformed_key_is_a_configuration_error(fcm_server):
    env = env_for("THROUGHLINE_FCM", SERVICE_ACCOUNT='{"client_email": "x"}', BASE_URL=fcm_server.base_url)
    with pytest.raises(ConfigurationError, match="lacks private_key, token_uri"):
        create("fcm", env)


def test_no_secret_and_no_device_token_in_logs(fcm, fcm_server, caplog):
    fcm_server.unregistered.add(token(0))
    fcm.access_token()
    fcm_server.inject(Fault.STATUS, count=1, status=503)
    with caplog.at_level(logging.DEBUG):
        fcm.write(Operation.SEND_MESSAGES, pushes(2))
    assert "ya29." not in caplog.text and "APA91b" not in caplog.text
    assert fcm_server.service_account["private_key"].splitlines()[1] not in caplog.text
