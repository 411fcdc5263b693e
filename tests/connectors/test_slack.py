"""Slack contract tests: the incoming webhook and chat.postMessage against the local server."""

import logging
import time

import pytest

from connectors import AuthenticationError, ConfigurationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault, SlackServer
from connectors.vendor_servers.slack import DEMO_CHANNEL
from tests.connectors.conftest import env_for

PREFIX = "THROUGHLINE_SLACK"


@pytest.fixture
def slack_server():
    with SlackServer(per_channel_per_second=None) as server:
        yield server


def hook_env(server, **extra):
    return env_for(PREFIX, **{"WEBHOOK_URL": server.webhook_url, **extra})


def bot_env(server, **extra):
    return env_for(PREFIX, **{"BOT_TOKEN": server.bot_token, "CHANNEL": DEMO_CHANNEL,
                              "API_URL": server.base_url + "/api", **extra})


def alerts(count, **extra):
    return [Record(f"a-{i}", {"subject": "Sales-ready lead", "text": f"lead {i} scored 91", **extra})
            for i in range(count)]


def test_capabilities_are_data():
    from connectors import destination_class

    limits = destination_class("slack").capabilities.limits(Operation.SEND_MESSAGES)
    assert limits.rate.per_second == 1 and not limits.idempotent
    with pytest.raises(ConfigurationError, match="exactly one"):
        create("slack", {})


def test_webhook_posts_rendered_text_and_blocks(slack_server):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Grace* is ready"}}]
    records = alerts(2) + [Record("b", {"blocks": blocks, "text": "Grace is ready"})]
    with create("slack", hook_env(slack_server)) as slack:
        assert slack.check().ok
        result = slack.write(Operation.SEND_MESSAGES, records)
    assert result.counts()["accepted"] == 3
    first, _, third = slack_server.in_channel()
    assert first["text"] == "*Sales-ready lead*\nlead 0 scored 91" and first["blocks"] is None
    assert third["blocks"] == blocks and third["text"] == "Grace is ready"


def test_bot_posts_to_the_target_channel_with_ts_as_vendor_id(slack_server):
    slack_server.channels["C0OTHER001"] = {"name": "deals", "member": True, "archived": False}
    with create("slack", bot_env(slack_server)) as slack:
        assert slack.check().ok
        default = slack.write(Operation.SEND_MESSAGES, alerts(2))
        targeted = slack.write(Operation.SEND_MESSAGES, alerts(1), target="#deals")
    assert default.counts()["accepted"] == 2 and targeted.counts()["accepted"] == 1
    assert [m["ts"] for m in slack_server.in_channel()] == [r.vendor_id for r in default.results]
    assert len(slack_server.in_channel("C0OTHER001")) == 1


def test_one_request_per_record_in_order(slack_server):
    with create("slack", bot_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(45))
    assert [r.key for r in result.results] == [f"a-{i}" for i in range(45)] and result.requests == 45
    assert [m["text"].rpartition("lead ")[2] for m in slack_server.in_channel()][:3] == ["0 scored 91", "1 scored 91",
                                                                                         "2 scored 91"]


def test_records_without_text_are_rejected_locally(slack_server):
    with create("slack", hook_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, [Record("empty", {"email": "x@example.com"})])
    assert result.results[0].status is RecordStatus.REJECTED and not slack_server.request_log


def test_per_record_rejects_carry_slacks_error_code(slack_server):
    records = [Record("long", {"text": "x" * 40_001}), Record("blocks", {"blocks": [{"text": "no type"}]}),
               Record("fine", {"text": "ok"})]
    for env in (hook_env(slack_server), bot_env(slack_server)):
        with create("slack", env) as slack:
            result = slack.write(Operation.SEND_MESSAGES, records)
        assert [(r.status, r.vendor_code) for r in result.results] == [
            (RecordStatus.REJECTED, "msg_too_long"), (RecordStatus.REJECTED, "invalid_blocks"),
            (RecordStatus.ACCEPTED, None)]
        assert result.retries == 0  # a 4xx (webhook) or ok:false (Web API) is never resent


@pytest.mark.parametrize("error,setup", [("not_in_channel", "member"), ("is_archived", "archived")])
def test_channel_errors_reject_the_rest_of_the_batch_unsent(slack_server, error, setup):
    slack_server.channels[DEMO_CHANNEL][setup] = setup == "archived"
    with create("slack", bot_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(5))
    assert {r.vendor_code for r in result.results} == {error} and result.counts()["rejected"] == 5
    assert len(slack_server.request_log) == 1


def test_webhook_archived_channel_is_410_rejected(slack_server):
    slack_server.channels[DEMO_CHANNEL]["archived"] = True
    with create("slack", hook_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(3))
    assert {r.vendor_code for r in result.results} == {"channel_is_archived"}
    assert [r.status for r in slack_server.request_log] == [410]


def test_bad_webhook_secret_and_revoked_webhook_are_credential_errors(slack_server):
    wrong = slack_server.webhook_url.rpartition("/")[0] + "/notthesecretatall000000"
    with create("slack", env_for(PREFIX, WEBHOOK_URL=wrong)) as slack:
        with pytest.raises(AuthenticationError, match="webhook URL"):
            slack.write(Operation.SEND_MESSAGES, alerts(2))
    slack_server.hook_revoked = True
    with create("slack", hook_env(slack_server)) as slack:
        with pytest.raises(AuthenticationError, match="no_service"):
            slack.write(Operation.SEND_MESSAGES, alerts(2))
    assert [r.status for r in slack_server.request_log] == [403, 404]  # each once, never retried


def test_bad_bot_token_is_one_error_and_keeps_what_was_posted(slack_server):
    with create("slack", bot_env(slack_server, BOT_TOKEN="xoxb-wrong-token")) as slack:
        assert not slack.check().ok
        with pytest.raises(AuthenticationError, match="invalid_auth"):
            slack.write(Operation.SEND_MESSAGES, alerts(2))
    with create("slack", bot_env(slack_server)) as slack:
        slack.write(Operation.SEND_MESSAGES, alerts(1))
        slack.client.session.headers["Authorization"] = "Bearer xoxb-revoked-mid-run"
        with pytest.raises(AuthenticationError) as error:
            slack.write(Operation.SEND_MESSAGES, alerts(3))
    assert error.value.partial is not None and error.value.partial.requests == 1


def test_429_with_retry_after_from_the_per_channel_limit():
    with SlackServer(per_channel_per_second=1) as server:
        with create("slack", bot_env(server)) as slack:  # client pacing opened up: it runs into Slack's limit
            started = time.monotonic()
            result = slack.write(Operation.SEND_MESSAGES, alerts(5))  # the burst of 3, then 429s
        assert result.counts()["accepted"] == 5 and server.throttled >= 1
        assert time.monotonic() - started >= 0.9 and result.throttled_seconds >= 0.9


def test_429_without_retry_after_backs_off_and_retries(slack_server):
    slack_server.inject(Fault.THROTTLE, count=2, retry_after=None)
    with create("slack", hook_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(1))
    assert result.counts()["accepted"] == 1 and result.retries == 2


def test_client_paces_one_message_per_second_per_channel():
    with SlackServer(per_channel_per_second=1) as server:
        env = bot_env(server)
        env.pop(f"{PREFIX}_RATE_PER_SECOND")
        with create("slack", env) as slack:
            started = time.monotonic()
            result = slack.write(Operation.SEND_MESSAGES, alerts(5))
        assert result.counts()["accepted"] == 5 and server.throttled == 0 and time.monotonic() - started >= 2.9


def test_5xx_is_retried(slack_server):
    slack_server.inject(Fault.STATUS, count=2, status=503)
    with create("slack", hook_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(1))
    assert result.counts()["accepted"] == 1 and result.retries == 2 and len(slack_server.messages) == 1


@pytest.mark.parametrize("error,status", [("internal_error", RecordStatus.RETRYABLE),
                                          ("service_unavailable", RecordStatus.RETRYABLE),
                                          ("fatal_error", RecordStatus.UNKNOWN)])
def test_web_api_server_errors_in_a_200_body(slack_server, error, status):
    slack_server.fail_next.append(error)
    with create("slack", bot_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(2))
    assert [r.status for r in result.results] == [status, RecordStatus.ACCEPTED]
    assert result.requests == 2  # never resent within the run: chat.postMessage has no idempotency key


def test_lost_answer_is_unknown_never_resent(slack_server):
    slack_server.inject(Fault.RESET, count=1, process_first=True)
    with create("slack", bot_env(slack_server)) as slack:
        result = slack.write(Operation.SEND_MESSAGES, alerts(1))
    assert result.results[0].status is RecordStatus.UNKNOWN and len(slack_server.messages) == 1


def test_no_webhook_url_token_or_pii_in_logs(slack_server, caplog):
    caplog.set_level(logging.DEBUG)
    slack_server.inject(Fault.STATUS, count=1, status=500)
    with create("slack", hook_env(slack_server)) as slack:
        slack.write(Operation.SEND_MESSAGES, [Record("p", {"text": "call grace.hopper@example.com now"})])
    with create("slack", bot_env(slack_server, BOT_TOKEN="xoxb-wrong-secret-token")) as slack:
        with pytest.raises(AuthenticationError) as error:
            slack.write(Operation.SEND_MESSAGES, alerts(1))
    text = caplog.text + str(error.value)
    assert "POST" in caplog.text  # urllib3's request lines were captured, and scrubbed
    for secret in (slack_server.webhook_url, slack_server.hook_secret, "xoxb-wrong-secret-token",
                   "grace.hopper@example.com"):
        assert secret not in text


def test_slack_sdk_clients_speak_to_the_local_server(slack_server):
    sdk = pytest.importorskip("slack_sdk")
    from slack_sdk.errors import SlackApiError

    client = sdk.WebClient(token=slack_server.bot_token, base_url=slack_server.base_url + "/api/")
    assert client.auth_test()["ok"]
    posted = client.chat_postMessage(channel=DEMO_CHANNEL, text="from the SDK",
                                     blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    assert posted["ts"] == slack_server.messages[-1]["ts"]
    slack_server.channels[DEMO_CHANNEL]["member"] = False
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel=DEMO_CHANNEL, text="x")
    assert error.value.response["error"] == "not_in_channel"
    slack_server.channels[DEMO_CHANNEL]["member"] = True
    hook = sdk.WebhookClient(slack_server.webhook_url)
    answer = hook.send(text="from the SDK webhook")
    assert answer.status_code == 200 and answer.body == "ok"
    assert hook.send(text="").body == "no_text"
    assert slack_server.messages[-1]["text"] == "from the SDK webhook"
