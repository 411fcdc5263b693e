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


def test_failing_ad_audience_syncs_leak_no_secret_and_no_pii(caplog, meta_env, meta_server, google_env, google_server):
    # Meta and Google syncs that hit throttling, server errors, a lost answer,
    # vendor rejects and finally bad credentials: neither the tokens nor any raw
    # identifier may appear in logs, errors or run metadata.
    from connectors.pii import Platform, hash_identifier

    caplog.set_level(logging.DEBUG)
    emails = ["ada.lovelace@example.com", "Grace.Hopper+ads@gmail.com"]
    phones = ["+14155550123", "(650) 555-1212"]
    names = ["Lovelace", "Hopper"]
    people = [
        Record(f"a{i}", {"email": e, "phone": p, "first_name": "Ada", "last_name": n, "country_code": "US",
                         "postal_code": "94105"})
        for i, (e, p, n) in enumerate(zip(emails, phones, names, strict=True))
    ] + [Record("bad", {"email": "broken-address.example.com", "phone": "12"})]
    errors, summaries = [], []

    audience = meta_server.create_audience()
    meta_server.reject_values = {hash_identifier("email", emails[0], Platform.META): "Invalid email hash"}
    meta_server.inject(Fault.THROTTLE, retry_after=None)
    meta_server.inject(Fault.STATUS, status=503)
    meta_server.inject(Fault.RESET, process_first=True)
    with create("meta", meta_env) as meta:
        summaries.append(meta.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=audience).summary())
    user_list = google_server.create_user_list()
    google_server.reject_values = {
        hash_identifier("email", emails[1], Platform.GOOGLE): ("INVALID_SHA256_FORMAT", "The SHA256 encoded value is malformed.")
    }
    google_server.inject(Fault.THROTTLE, retry_after=None)
    google_server.inject(Fault.STATUS, status=500)
    with create("google_ads", google_env) as google:
        summaries.append(google.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=user_list).summary())
    secrets = [meta_server.access_token, google_server.access_token, google_server.developer_token,
               "EAAleaked-if-you-see-this", "ya29.leaked-if-you-see-this"]
    for name, env, key, bad in (
        ("meta", meta_env, "THROUGHLINE_META_ACCESS_TOKEN", secrets[3]),
        ("google_ads", google_env, "THROUGHLINE_GOOGLE_ADS_ACCESS_TOKEN", secrets[4]),
    ):
        with create(name, {**env, key: bad}) as destination, pytest.raises(AuthenticationError) as raised:
            destination.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=audience if name == "meta" else user_list)
        errors.append(str(raised.value))

    assert summaries[0]["rejected"] == 2 and summaries[1]["rejected"] == 2  # the failures really happened
    assert summaries[0]["retries"] >= 3 and summaries[1]["retries"] >= 2
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    digits = [p.strip("+").replace("(", "").replace(")", "").replace(" ", "").replace("-", "") for p in phones]
    pii = emails + [e.lower() for e in emails] + [quote(e) for e in emails] + phones + digits + names
    pii += [n.lower() for n in names]
    haystacks = {"logs": caplog.text, "errors": " ".join(errors), "metadata": repr(summaries)}
    for where, text in haystacks.items():
        for needle in secrets + pii:
            assert needle not in text, f"{needle!r} leaked into {where}"
