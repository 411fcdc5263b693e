"""OneSignal contract tests against the local OneSignal server."""

import logging

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault, OneSignalServer
from tests.connectors.conftest import env_for


@pytest.fixture
def onesignal_server():
    with OneSignalServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def onesignal_env(onesignal_server):
    return env_for("THROUGHLINE_ONESIGNAL", APP_ID=onesignal_server.app_id, API_KEY=onesignal_server.api_key,
                   BASE_URL=onesignal_server.base_url)


@pytest.fixture
def onesignal(onesignal_env):
    with create("onesignal", onesignal_env) as destination:
        yield destination


def pushes(count, title="Back in stock", start=0):
    return [Record(f"p-{i}", {"external_id": f"cus_{i:06d}", "title": title, "body": "Your size is back",
                              "data": {"sku": "A-1"}, "link": "shop://p/A-1"}) for i in range(start, start + count)]


def test_check_accepts_the_key(onesignal):
    assert onesignal.check().ok


def test_same_content_goes_in_one_notification(onesignal, onesignal_server):
    result = onesignal.write(Operation.SEND_MESSAGES, pushes(30) + pushes(5, title="Last chance", start=30))
    assert result.counts()["accepted"] == 35
    assert len(onesignal_server.notifications) == 2
    first = onesignal_server.notifications[0]
    assert first["target_channel"] == "push" and len(first["include_aliases"]["external_id"]) == 30
    assert (first["headings"], first["contents"], first["url"]) == (
        {"en": "Back in stock"}, {"en": "Your size is back"}, "shop://p/A-1")


def test_batches_split_at_20000_recipients(onesignal, onesignal_server):
    result = onesignal.write(Operation.SEND_MESSAGES, pushes(20_003))
    assert result.counts()["accepted"] == 20_003
    assert [len(n["include_aliases"]["external_id"]) for n in onesignal_server.notifications] == [20_000, 3]


def test_unsubscribed_aliases_are_per_record_rejects(onesignal, onesignal_server):
    onesignal_server.unsubscribed.add("cus_000001")
    by_key = {r.key: r for r in onesignal.write(Operation.SEND_MESSAGES, pushes(3)).results}
    assert by_key["p-0"].status is RecordStatus.ACCEPTED
    assert (by_key["p-1"].status, by_key["p-1"].vendor_code) == (RecordStatus.REJECTED, "invalid_aliases")


def test_no_subscribed_recipient_rejects_all_with_onesignals_reason(onesignal, onesignal_server):
    onesignal_server.unsubscribed.update({"cus_000000", "cus_000001"})
    result = onesignal.write(Operation.SEND_MESSAGES, pushes(2))
    assert {(r.status, r.reason) for r in result.results} == {
        (RecordStatus.REJECTED, "All included players are not subscribed")}


@pytest.mark.parametrize("retry_after", [None, 1])
def test_429_is_retried(onesignal, onesignal_server, retry_after):
    onesignal_server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = onesignal.write(Operation.SEND_MESSAGES, pushes(4))
    assert result.counts()["accepted"] == 4 and result.retries == 2
    assert len(onesignal_server.notifications) == 1


def test_5xx_retried_and_a_lost_answer_resent_without_a_second_notification(onesignal_env, onesignal_server):
    onesignal_server.inject(Fault.STATUS, count=1, status=502)
    onesignal_server.inject(Fault.TIMEOUT, delay=0.6, process_first=True)
    with create("onesignal", {**onesignal_env, "THROUGHLINE_ONESIGNAL_HTTP_READ_TIMEOUT": "0.3"}) as destination:
        result = destination.write(Operation.SEND_MESSAGES, pushes(3))
    assert result.counts()["accepted"] == 3
    assert len(onesignal_server.notifications) == 1, "the idempotency_key made the resend a no-op"


def test_4xx_is_not_retried(onesignal, onesignal_server):
    result = onesignal.write(Operation.SEND_MESSAGES, [Record("x", {"external_id": "cus_1", "title": "t"})] * 1
                             + [Record("y", {"subscription_id": "", "body": "b"})])
    assert result.results[1].vendor_code == "no_recipient"
    onesignal_server.app_id = "00000000-0000-0000-0000-000000000000"
    again = onesignal.write(Operation.SEND_MESSAGES, pushes(1))
    assert again.results[0].status is RecordStatus.REJECTED and "app_id not found" in again.results[0].reason
    assert len(onesignal_server.requests_to("/notifications")) == 2


def test_bad_key_is_one_clear_error_and_not_logged(onesignal_env, onesignal_server, caplog):
    env = {**onesignal_env, "THROUGHLINE_ONESIGNAL_API_KEY": "os_v2_app_wrongkey"}
    with caplog.at_level(logging.DEBUG), create("onesignal", env) as destination:
        with pytest.raises(AuthenticationError, match="onesignal rejected the configured credentials"):
            destination.write(Operation.SEND_MESSAGES, pushes(2))
    assert "os_v2_app_wrongkey" not in caplog.text and "cus_000000" not in caplog.text
