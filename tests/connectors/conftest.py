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


@pytest.fixture
def meta_server():
    from connectors.vendor_servers import MetaServer

    with MetaServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def meta_env(meta_server) -> dict[str, str]:
    return env_for("THROUGHLINE_META", ACCESS_TOKEN=meta_server.access_token, BASE_URL=meta_server.base_url)


@pytest.fixture
def meta(meta_env):
    with create("meta", meta_env) as destination:
        yield destination


@pytest.fixture
def google_server():
    from connectors.vendor_servers import GoogleAdsServer

    with GoogleAdsServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def google_env(google_server) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_GOOGLE_ADS",
        DEVELOPER_TOKEN=google_server.developer_token,
        ACCESS_TOKEN=google_server.access_token,
        CUSTOMER_ID="123-456-7890",
        LOGIN_CUSTOMER_ID="9876543210",
        BASE_URL=google_server.base_url,
    )


@pytest.fixture
def google(google_env):
    with create("google_ads", google_env) as destination:
        yield destination


@pytest.fixture
def braze_server():
    from connectors.vendor_servers import BrazeServer

    with BrazeServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def braze_env(braze_server) -> dict[str, str]:
    return env_for("THROUGHLINE_BRAZE", API_KEY=braze_server.api_key, REST_ENDPOINT=braze_server.base_url)


@pytest.fixture
def braze(braze_env):
    with create("braze", braze_env) as destination:
        yield destination


@pytest.fixture
def customerio_server():
    from connectors.vendor_servers import CustomerIoServer

    with CustomerIoServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def customerio_env(customerio_server) -> dict[str, str]:
    return env_for(
        "THROUGHLINE_CUSTOMERIO",
        SITE_ID=customerio_server.site_id,
        TRACK_API_KEY=customerio_server.track_api_key,
        APP_API_KEY=customerio_server.app_api_key,
        TRACK_URL=customerio_server.base_url,
        APP_URL=customerio_server.base_url,
        TRANSACTIONAL_MESSAGE_ID="1",
    )


@pytest.fixture
def customerio(customerio_env):
    with create("customerio", customerio_env) as destination:
        yield destination


@pytest.fixture
def hubspot_server():
    from connectors.vendor_servers import HubSpotServer

    with HubSpotServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def hubspot_env(hubspot_server) -> dict[str, str]:
    return env_for("THROUGHLINE_HUBSPOT", ACCESS_TOKEN=hubspot_server.access_token, BASE_URL=hubspot_server.base_url)


@pytest.fixture
def hubspot(hubspot_env):
    with create("hubspot", hubspot_env) as destination:
        yield destination


@pytest.fixture
def mailchimp_server():
    from connectors.vendor_servers import MailchimpServer

    with MailchimpServer(rate_limits=()) as server:
        server.create_list("9e67587f52")
        yield server


@pytest.fixture
def mailchimp_env(mailchimp_server) -> dict[str, str]:
    return env_for("THROUGHLINE_MAILCHIMP", API_KEY=mailchimp_server.api_key, BASE_URL=mailchimp_server.base_url,
                   LIST_ID="9e67587f52")


@pytest.fixture
def mailchimp(mailchimp_env):
    with create("mailchimp", mailchimp_env) as destination:
        yield destination
