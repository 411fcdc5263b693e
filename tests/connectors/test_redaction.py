"""A failing sync's logs, errors and metadata carry neither secrets nor raw PII."""

import logging
from urllib.parse import quote

import pytest

from connectors import AuthenticationError, Operation, Record, create
from connectors.vendor_servers import Fault


def test_failing_sync_leaks_no_secret_and_no_pii(caplog, klaviyo_env, klaviyo_server, twilio_env, twilio_server):
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    emails = ["ada.lovelace@example.com", "grace-hopper@example.org", "broken-address.example.com"]
    phones = ["+14155550123", "+15005550001"]
    people = [Record(f"p{i}", {"email": e, "first_name": "Ada"}) for i, e in enumerate(emails)]
    texts = [Record(f"s{i}", {"phone": p, "text": "hello"}) for i, p in enumerate(phones)]
    errors, summaries = [], []

    list_id = klaviyo_server.create_list()
    klaviyo_server.inject(Fault.STATUS, count=2, status=503)
    with create("klaviyo", klaviyo_env) as klaviyo:
        summaries.append(klaviyo.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=list_id).summary())
        # emails travel in the query string here: filter=any(email,[...])
        summaries.append(klaviyo.write(Operation.REMOVE_AUDIENCE_MEMBERS, people, target=list_id).summary())
    twilio_server.inject(Fault.THROTTLE, count=2)
    with create("twilio", twilio_env) as twilio:
        summaries.append(twilio.write(Operation.SEND_MESSAGES, texts).summary())
    bad_env = {**klaviyo_env, "THROUGHLINE_KLAVIYO_API_KEY": "pk_leaked_if_you_see_this"}
    with create("klaviyo", bad_env) as klaviyo, pytest.raises(AuthenticationError) as raised:
        klaviyo.write(Operation.UPSERT_PROFILES, people)
    errors.append(str(raised.value))

    assert any(r.name.startswith("urllib3") for r in caplog.records), "urllib3 debug logs were not captured"
    assert any("filter" in r.getMessage() for r in caplog.records), "the lookup request line was not logged"
    assert summaries[0]["rejected"] == 1 and summaries[2]["rejected"] == 1  # the failures really happened
    secrets = [klaviyo_server.api_key, twilio_server.auth_token, "pk_leaked_if_you_see_this"]
    pii = emails + phones + [quote(e) for e in emails] + [quote(p) for p in phones] + [p.lstrip("+") for p in phones]
    haystacks = {"logs": caplog.text, "errors": " ".join(errors), "metadata": repr(summaries)}
    for where, text in haystacks.items():
        for needle in secrets + pii:
            assert needle not in text, f"{needle!r} leaked into {where}"
