"""LinkedIn DMP segment users contract tests against the local versioned REST server."""

import logging

import pytest

from connectors import AuthenticationError, ConfigurationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault, LinkedInServer

FAST = {"HTTP_BACKOFF_BASE": "0.001", "HTTP_BACKOFF_MAX": "0.01", "HTTP_MAX_ATTEMPTS": "4", "RATE_PER_SECOND": "2000"}


@pytest.fixture
def server():
    with LinkedInServer(rate_limits=()) as running:
        yield running


@pytest.fixture
def env(server):
    values = {**FAST, "ACCESS_TOKEN": server.access_token, "BASE_URL": server.base_url}
    return {f"THROUGHLINE_LINKEDIN_{k}": v for k, v in values.items()}


@pytest.fixture
def linkedin(env):
    with create("linkedin", env) as destination:
        yield destination


def people(count, start=0):
    return [Record(f"l-{i}", {"email": f" Person{i}@Example.com "}) for i in range(start, start + count)]


def digest(i):
    return hash_identifier("email", f"person{i}@example.com", Platform.LINKEDIN)


def test_check_and_members_are_added_as_sha256_email(linkedin, server):
    assert linkedin.check().ok
    segment = server.create_segment()
    records = [*people(2), Record("named", {"first_name": " Ada ", "last_name": "Lovelace"})]
    result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment)
    assert result.counts()["accepted"] == 3 and result.requests == 1
    assert server.members(segment) == {digest(0), digest(1), "ada|lovelace"}


def test_batches_split_at_5000_elements(linkedin, server):
    segment = server.create_segment()
    result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(10_001), target=segment)
    assert result.counts()["accepted"] == 10_001 and result.requests == 3
    assert len(server.members(segment)) == 10_001


def test_remove_members(linkedin, server):
    segment = server.create_segment()
    linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(4), target=segment)
    assert linkedin.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(3), target=segment).counts()["accepted"] == 3
    assert server.members(segment) == {digest(3)}


def test_element_rejects_carry_linkedins_message_and_unusable_records_never_leave(linkedin, server):
    segment = server.create_segment()
    server.reject_values = {digest(1): "Member has opted out of third-party data matching"}
    records = [*people(3), Record("nobody", {"email": "not-an-address", "first_name": "Ada"})]
    by_key = {r.key: r for r in linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment).results}
    assert by_key["l-1"].status is RecordStatus.REJECTED and by_key["l-1"].vendor_code == "400"
    assert by_key["l-1"].reason == "Member has opted out of third-party data matching"
    assert by_key["nobody"].vendor_code == "no_identifier" and "not an email address" in by_key["nobody"].reason
    assert by_key["l-0"].status is by_key["l-2"].status is RecordStatus.ACCEPTED
    assert server.elements_applied == 2


def test_unknown_segment_is_rejected_and_not_retried(linkedin, server):
    result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="999")
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "NOT_FOUND"
    assert "does not exist" in result.results[0].reason and len(server.request_log) == 1


@pytest.mark.parametrize("retry_after", [None, 1])
def test_429_with_and_without_retry_after_is_retried(linkedin, server, retry_after):
    segment = server.create_segment()
    server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=segment)
    assert result.counts()["accepted"] == 3 and result.retries == 2 and result.throttled_seconds > 0
    if retry_after:
        assert result.throttled_seconds >= 2 * retry_after


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(linkedin, server, status):
    segment = server.create_segment()
    server.inject(Fault.STATUS, count=2, status=status)
    result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=segment)
    assert result.counts()["accepted"] == 2 and result.retries == 2 and len(server.members(segment)) == 2


def test_lost_answer_is_resent_and_adding_twice_changes_nothing(env, server):
    segment = server.create_segment()
    server.inject(Fault.TIMEOUT, delay=0.5, process_first=True)
    with create("linkedin", {**env, "THROUGHLINE_LINKEDIN_HTTP_READ_TIMEOUT": "0.25"}) as linkedin:
        result = linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(4), target=segment)
    assert result.counts()["accepted"] == 4 and result.retries == 1 and server.members(segment) == {digest(i) for i in range(4)}


def test_bad_token_is_one_clear_error_and_nothing_is_logged_raw(env, server, caplog):
    caplog.set_level(logging.DEBUG)
    with create("linkedin", {**env, "THROUGHLINE_LINKEDIN_ACCESS_TOKEN": "AQVwrong-token-98765"}) as linkedin:
        assert not linkedin.check().ok
        with pytest.raises(AuthenticationError, match="linkedin rejected the configured credentials"):
            linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(12_000), target=server.create_segment())
    assert len(server.requests_to("/rest/dmpSegments")) == 1
    assert "AQVwrong-token-98765" not in caplog.text and "person1@example.com" not in caplog.text.lower()


def test_inactive_version_is_a_configuration_error(env, server):
    with create("linkedin", {**env, "THROUGHLINE_LINKEDIN_API_VERSION": "202301"}) as linkedin:
        with pytest.raises(ConfigurationError, match="202301 is not active"):
            linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, people(1), target=server.create_segment())


def test_server_refuses_more_than_5000_elements_and_missing_batch_header(server):
    import requests

    headers = {"Authorization": f"Bearer {server.access_token}", "LinkedIn-Version": "202611",
               "X-Restli-Protocol-Version": "2.0.0"}
    element = {"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": digest(0)}]}
    url = f"{server.base_url}/rest/dmpSegments/18001234/users"
    too_many = requests.post(url, json={"elements": [element] * 5001}, headers={**headers, "X-RestLi-Method": "BATCH_CREATE"})
    assert too_many.status_code == 400 and "5000" in too_many.json()["message"]
    assert requests.post(url, json={"elements": [element]}, headers=headers).status_code == 400
