"""Pinterest customer lists contract tests against the local API v5 server."""

import logging

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault, PinterestServer
from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT

FAST = {"HTTP_BACKOFF_BASE": "0.001", "HTTP_BACKOFF_MAX": "0.01", "HTTP_MAX_ATTEMPTS": "4", "RATE_PER_SECOND": "2000"}


@pytest.fixture
def server():
    with PinterestServer(rate_limits=()) as running:
        yield running


@pytest.fixture
def env(server):
    values = {**FAST, "ACCESS_TOKEN": server.access_token, "BASE_URL": server.base_url, "AD_ACCOUNT_ID": DEMO_AD_ACCOUNT}
    return {f"THROUGHLINE_PINTEREST_{k}": v for k, v in values.items()}


@pytest.fixture
def pinterest(env):
    with create("pinterest", env) as destination:
        yield destination


def people(count, start=0):
    return [Record(f"p-{i}", {"email": f" Person{i}@Example.com"}) for i in range(start, start + count)]


def digest(i):
    return hash_identifier("email", f"person{i}@example.com", Platform.PINTEREST)


def test_check_and_members_are_added_as_sha256_digests(pinterest, server):
    assert pinterest.check().ok
    target = server.create_list()
    result = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=target)
    assert result.counts()["accepted"] == 3 and result.results[0].vendor_id == target
    assert server.members(target) == {digest(0), digest(1), digest(2)}


def test_batches_split_at_10000_records(pinterest, server):
    target = server.create_list()
    result = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(20_001), target=target)
    assert result.counts()["accepted"] == 20_001 and result.requests == 3
    assert len(server.members(target)) == 20_001 and server.lists[target]["num_batches"] == 3


def test_remove_members_and_create_a_list(pinterest, server):
    target = pinterest.create_list("Journey: lapsed buyers", people(4))
    assert server.members(target) == {digest(i) for i in range(4)} and server.lists[target]["name"] == "Journey: lapsed buyers"
    assert pinterest.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(3), target=target).counts()["accepted"] == 3
    assert server.members(target) == {digest(3)}


def test_unusable_records_never_leave_and_vendor_refusals_carry_pinterests_reason(pinterest, server):
    target = server.create_list()
    records = [*people(2), Record("nobody", {"email": "not-an-address"}), Record("none", {"first_name": "Ada"})]
    by_key = {r.key: r for r in pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=target).results}
    assert by_key["nobody"].vendor_code == by_key["none"].vendor_code == "no_identifier"
    assert by_key["p-0"].status is RecordStatus.ACCEPTED and server.records_applied == 2
    unknown = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="777")
    assert unknown.counts()["rejected"] == 2 and unknown.results[0].reason == "Customer list not found."
    assert unknown.results[0].vendor_code == "404" and unknown.requests == 1


@pytest.mark.parametrize("retry_after", [None, 1])
def test_429_code_8_with_and_without_retry_after_is_retried(pinterest, server, retry_after):
    target = server.create_list()
    server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=target)
    assert result.counts()["accepted"] == 3 and result.retries == 2 and result.throttled_seconds > 0
    if retry_after:
        assert result.throttled_seconds >= 2 * retry_after


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(pinterest, server, status):
    target = server.create_list()
    server.inject(Fault.STATUS, count=2, status=status)
    result = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=target)
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_bad_token_is_one_clear_error_and_logs_hold_no_secret_or_address(env, server, caplog):
    caplog.set_level(logging.DEBUG)
    with create("pinterest", {**env, "THROUGHLINE_PINTEREST_ACCESS_TOKEN": "pina_wrong-98765"}) as pinterest:
        assert not pinterest.check().ok
        with pytest.raises(AuthenticationError, match="pinterest rejected the configured credentials"):
            pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(25_000), target=server.create_list())
    assert len(server.requests_to("/v5/ad_accounts/549755885175/customer_lists")) == 1
    assert "pina_wrong-98765" not in caplog.text and "person1@example.com" not in caplog.text.lower()


def test_an_ad_account_the_token_cannot_reach_is_an_authentication_error(env, server):
    with create("pinterest", {**env, "THROUGHLINE_PINTEREST_AD_ACCOUNT_ID": "123"}) as pinterest:
        with pytest.raises(AuthenticationError):
            pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, people(1), target=server.create_list())


def test_server_refuses_raw_mixed_case_emails_and_bad_operation(server):
    import requests

    url = f"{server.base_url}/v5/ad_accounts/{DEMO_AD_ACCOUNT}/customer_lists/2542620001"
    auth = {"Authorization": f"Bearer {server.access_token}"}
    upper = requests.patch(url, json={"operation_type": "ADD", "records": "Person@Example.com"}, headers=auth)
    assert upper.status_code == 400 and upper.json()["code"] == 1
    wrong = requests.patch(url, json={"operation_type": "MERGE", "records": digest(0)}, headers=auth)
    assert wrong.status_code == 400 and "operation_type" in wrong.json()["message"]
