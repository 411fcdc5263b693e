"""Braze contract tests against the local Braze server."""

import time

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import BrazeServer, Fault, WindowLimit


def users(count):
    return [Record(f"u-{i}", {"external_id": f"cust-{i}", "email": f"u{i}@example.com", "phone": "(650) 555-1212",
                              "properties": {"tier": "gold"}}) for i in range(count)]


def events(count):
    return [Record(f"e-{i}", {"external_id": f"cust-{i}", "event_name": "journey_step",
                              "occurred_at": "2026-01-02T03:04:05Z", "properties": {"step": i}}) for i in range(count)]


def sends(count, campaign="camp-1"):
    return [Record(f"act-{i}", {"external_id": f"cust-{i}", "campaign_id": campaign,
                                "template_data": {"first_name": "Ada"}}) for i in range(count)]


def test_check_accepts_the_key(braze):
    assert braze.check().ok


def test_attributes_split_at_75_objects(braze, braze_server):
    result = braze.write(Operation.UPSERT_PROFILES, users(151))
    assert result.counts()["accepted"] == 151
    assert len(braze_server.requests_to("/users/track")) == 3
    assert braze_server.users["cust-1"]["phone"] == "+16505551212" and braze_server.users["cust-1"]["tier"] == "gold"


def test_events_and_purchases_in_one_track_call(braze, braze_server):
    records = [*events(2), Record("p-1", {"external_id": "cust-9", "product_id": "sku-1", "value": 12.5,
                                          "currency": "EUR", "occurred_at": "2026-01-02T03:04:05Z"})]
    result = braze.write(Operation.TRACK_EVENTS, records)
    assert result.counts()["accepted"] == 3 and len(braze_server.requests_to("/users/track")) == 1
    assert braze_server.purchases[0]["price"] == 12.5 and len(braze_server.events) == 2


def test_minor_errors_in_a_201_reject_only_the_named_objects(braze, braze_server):
    records = users(3)
    records[1] = Record("u-1", {"external_id": "cust-1", "email": "not-an-address"})
    result = braze.write(Operation.UPSERT_PROFILES, records)
    assert [r.status for r in result.results] == [RecordStatus.ACCEPTED, RecordStatus.REJECTED, RecordStatus.ACCEPTED]
    assert result.results[1].reason == "Invalid email address: <email>"  # Braze echoes it; we do not keep it
    assert set(braze_server.users) == {"cust-0", "cust-2"}


def test_record_without_external_id_never_leaves(braze, braze_server):
    result = braze.write(Operation.TRACK_EVENTS, [Record("x", {"event_name": "a", "occurred_at": "2026-01-01"})])
    assert result.results[0].status is RecordStatus.REJECTED and not braze_server.request_log


def test_campaign_trigger_sends_split_at_50_and_carry_the_action_id(braze, braze_server):
    braze_server.campaigns.add("camp-1")
    result = braze.write(Operation.SEND_MESSAGES, sends(120))
    assert result.counts()["accepted"] == 120
    assert len(braze_server.requests_to("/campaigns/trigger/send")) == 3
    assert set(braze_server.sends.values()) == {1} and ("camp-1", "cust-7", "act-7") in braze_server.sends


def test_canvas_trigger_send(braze, braze_server):
    braze_server.canvases.add("canvas-1")
    records = [Record("c-1", {"external_id": "cust-1", "canvas_id": "canvas-1"})]
    assert braze.write(Operation.SEND_MESSAGES, records).counts()["accepted"] == 1
    assert ("canvas-1", "cust-1", "c-1") in braze_server.sends


def test_unknown_campaign_is_rejected_not_retried(braze, braze_server):
    result = braze.write(Operation.SEND_MESSAGES, sends(3, campaign="nope"))
    assert result.counts()["rejected"] == 3 and "Invalid campaign_id" in result.results[0].reason
    assert len(braze_server.request_log) == 1


def test_subscription_group_membership(braze, braze_server):
    braze_server.subscription_groups["sg-1"] = {}
    members = [Record("s-1", {"external_id": "cust-1"}), Record("s-2", {"email": "b@example.com"}),
               Record("s-3", {"phone": "+14155550100"})]
    assert braze.write(Operation.ADD_AUDIENCE_MEMBERS, members, target="sg-1").counts()["accepted"] == 3
    assert braze_server.subscribed("sg-1") == {"cust-1", "b@example.com", "+14155550100"}
    braze.write(Operation.REMOVE_AUDIENCE_MEMBERS, members[:1], target="sg-1")
    assert braze_server.subscribed("sg-1") == {"b@example.com", "+14155550100"}


def test_429_with_x_ratelimit_reset_is_honoured(braze, braze_server):
    braze_server.inject(Fault.THROTTLE, retry_after=1)
    reset_at = int(time.time()) + 1
    result = braze.write(Operation.UPSERT_PROFILES, users(2))
    assert result.counts()["accepted"] == 2 and time.time() >= reset_at - 0.05 and result.throttled_seconds > 0


def test_429_without_reset_backs_off(braze, braze_server):
    braze_server.inject(Fault.THROTTLE, count=3, retry_after=None)
    result = braze.write(Operation.UPSERT_PROFILES, users(2))
    assert result.counts()["accepted"] == 2 and result.retries == 3


def test_window_limit_is_survived(braze_env):
    with BrazeServer(rate_limits=(WindowLimit(2, 1.0),)) as server:
        env = {**braze_env, "THROUGHLINE_BRAZE_REST_ENDPOINT": server.base_url}
        with create("braze", env) as braze:
            result = braze.write(Operation.UPSERT_PROFILES, users(300))
        assert result.counts()["accepted"] == 300 and server.throttled >= 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(braze, braze_server, status):
    braze_server.campaigns.add("camp-1")
    braze_server.inject(Fault.STATUS, count=2, status=status)
    result = braze.write(Operation.SEND_MESSAGES, sends(3))
    assert result.counts()["accepted"] == 3 and result.retries == 2 and set(braze_server.sends.values()) == {1}


def test_lost_answer_on_a_send_is_unknown_and_not_resent(braze, braze_server):
    braze_server.campaigns.add("camp-1")
    braze_server.inject(Fault.RESET, process_first=True)
    result = braze.write(Operation.SEND_MESSAGES, sends(2))
    assert result.counts()["unknown"] == 2 and set(braze_server.sends.values()) == {1}


def test_lost_answer_on_attributes_is_resent(braze, braze_server):
    braze_server.inject(Fault.RESET, process_first=True)
    assert braze.write(Operation.UPSERT_PROFILES, users(2)).counts()["accepted"] == 2


def test_bad_key_is_one_clear_error(braze_env, braze_server):
    env = {**braze_env, "THROUGHLINE_BRAZE_API_KEY": "wrong-braze-key-000"}
    with create("braze", env) as braze, pytest.raises(AuthenticationError, match="braze rejected"):
        braze.write(Operation.UPSERT_PROFILES, users(300))
    assert len(braze_server.request_log) == 1
