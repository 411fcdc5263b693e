"""Fixtures: each test gets fresh vendor servers on ephemeral ports and
destinations built the way production builds them, from environment variables
(passed as a mapping, so tests never touch os.environ)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors import create
from connectors.vendor_servers import KlaviyoServer, SendGridServer, TwilioServer, WebhookServer

# Tiny backoff so retries cost milliseconds. Pacing is opened up except where
# a test sets it; tests of timeouts shorten the read timeout themselves.
FAST_HTTP = {
    "HTTP_BACKOFF_BASE": "0.001",
    "HTTP_BACKOFF_MAX": "0.01",
    "HTTP_READ_TIMEOUT": "10",
    "HTTP_MAX_ATTEMPTS": "4",
    "RATE_PER_SECOND": "2000",
}


def env_for(prefix: str, **settings: str) -> dict[str, str]:
    values = {**FAST_HTTP, **settings}
    return {f"{prefix}_{name}": value for name, value in values.items()}


@pytest.fixture(name="env_for")
def env_for_fixture():
    return env_for


@pytest.fixture
def sendgrid_server() -> Iterator[SendGridServer]:
    with SendGridServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def sendgrid_env(sendgrid_server: SendGridServer) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_SENDGRID",
        API_KEY=sendgrid_server.api_key,
        BASE_URL=sendgrid_server.base_url,
        FROM_EMAIL="journeys@shop.example",
    )


@pytest.fixture
def sendgrid(sendgrid_env):
    with create("sendgrid", sendgrid_env) as destination:
        yield destination


@pytest.fixture
def klaviyo_server() -> Iterator[KlaviyoServer]:
    with KlaviyoServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def klaviyo_env(klaviyo_server: KlaviyoServer) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_KLAVIYO",
        API_KEY=klaviyo_server.api_key,
        BASE_URL=klaviyo_server.base_url,
        JOB_POLL_INTERVAL="0.01",
        JOB_TIMEOUT="5",
    )


@pytest.fixture
def klaviyo(klaviyo_env):
    with create("klaviyo", klaviyo_env) as destination:
        yield destination


@pytest.fixture
def twilio_server() -> Iterator[TwilioServer]:
    with TwilioServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def twilio_env(twilio_server: TwilioServer) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_TWILIO",
        ACCOUNT_SID=twilio_server.account_sid,
        AUTH_TOKEN=twilio_server.auth_token,
        BASE_URL=twilio_server.base_url,
        FROM="+15017122661",
    )


@pytest.fixture
def twilio(twilio_env):
    with create("twilio", twilio_env) as destination:
        yield destination


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    with WebhookServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def webhook_env(webhook_server: WebhookServer) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_WEBHOOK",
        URL=webhook_server.base_url + "/hooks/throughline",
        SECRET=webhook_server.secret,
        BATCH_SIZE="50",
    )


@pytest.fixture
def webhook(webhook_env):
    with create("webhook", webhook_env) as destination:
        yield destination
