"""The shared HTTP layer: pacing, throttle signals in bodies and headers."""

import json
import time

import requests

from connectors import Operation, Record, create
from connectors.http import (
    RateLimiter,
    Verdict,
    google_retry_delay_signal,
    meta_throttle_signal,
    reset_header_seconds,
    retry_after_seconds,
)
from connectors.vendor_servers import TwilioServer, WindowLimit


def response(status, body=None, headers=None):
    # A real requests.Response, as the session would build it from the wire.
    built = requests.Response()
    built.status_code = status
    built._content = json.dumps(body).encode() if body is not None else b""
    built.headers.update(headers or {})
    return built


def test_rate_limiter_holds_a_run_within_five_percent_without_429(env_for):
    # Server refuses above 110/s (sliding one-second window, Twilio's 20429);
    # the client is configured for 100/s with 4 workers in flight.
    # The 0.1 s window catches bursts; its slack absorbs arrival jitter when the
    # server shares a busy process (and GIL) with the client.
    with TwilioServer(rate_limits=(WindowLimit(110, 1.0), WindowLimit(15, 0.1))) as server:
        env = env_for(
            "THROUGHLINE_TWILIO",
            ACCOUNT_SID=server.account_sid,
            AUTH_TOKEN=server.auth_token,
            BASE_URL=server.base_url,
            FROM="+15017122661",
            RATE_PER_SECOND="100",
            MAX_CONCURRENCY="4",
        )
        records = [Record(f"m{i}", {"phone": f"+1415555{i:04d}", "text": "hi"}) for i in range(50)]
        with create("twilio", env) as twilio:
            result = twilio.write(Operation.SEND_MESSAGES, records)
        assert result.counts()["accepted"] == 50
        assert server.throttled == 0 and result.retries == 0
        arrivals = [r.at for r in server.requests_to("/2010-04-01/Accounts/", "POST")]
        observed = (len(arrivals) - 1) / (max(arrivals) - min(arrivals))
        assert 95 <= observed <= 105, f"{observed:.1f} requests/s"


def test_rate_limiter_pause_holds_every_caller():
    limiter = RateLimiter(1000)
    limiter.pause_for(0.2)
    started = time.monotonic()
    limiter.acquire()
    assert time.monotonic() - started >= 0.19


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= retry_after_seconds(http_date) <= 31
    assert retry_after_seconds("soon") is None
    assert 9 <= reset_header_seconds(str(int(time.time()) + 10)) <= 11  # SendGrid: Unix timestamp
    assert reset_header_seconds("7") == 7  # Klaviyo RateLimit-Reset: seconds


def test_meta_throttling_codes_in_400_bodies_are_transient():
    usage = {"123": [{"type": "ads_management", "estimated_time_to_regain_access": 2}]}
    throttled = response(
        400,
        {"error": {"message": "User request limit reached", "code": 17}},
        {"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    verdict = meta_throttle_signal(throttled)
    assert verdict.verdict is Verdict.TRANSIENT and verdict.wait == 120 and verdict.throttled
    assert meta_throttle_signal(response(400, {"error": {"message": "Invalid parameter", "code": 100}})) is None
    assert (
        meta_throttle_signal(response(400, {"error": {"code": 2, "is_transient": True}})).verdict is Verdict.TRANSIENT
    )


def test_google_retry_delay_is_read_from_the_error_body():
    ads_quota = response(
        429,
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure",
                        "errors": [
                            {
                                "errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                                "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT", "retryDelay": "30s"}},
                            }
                        ],
                    }
                ],
            }
        },
    )
    assert google_retry_delay_signal(ads_quota).wait == 30
    rpc = response(
        429,
        {
            "error": {
                "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}],
            }
        },
    )
    assert google_retry_delay_signal(rpc).wait == 1.5
    assert google_retry_delay_signal(response(400, {"error": {"status": "INVALID_ARGUMENT"}})) is None


def test_the_rate_limiter_never_sends_its_first_two_calls_back_to_back():
    from connectors.http import RateLimiter

    limiter = RateLimiter(10.0)  # one call per 0.1 s
    assert limiter.acquire() == 0.0
    assert limiter.acquire() > 0.09, "the second call waits its interval"
