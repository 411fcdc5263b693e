"""The demo data generator: determinism, the Segment envelope, the event contract and
the identity mess that identity resolution is meant to clean up."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from orchestration.demo_data.generator import DAY_MS, TRACK_EVENTS, _COUNTRY_PROFILE, _Customer, _Sink, _offset_minutes, generate

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAYS = 90
CUSTOMERS = 300


ZONES = {tz for zones, _, _ in _COUNTRY_PROFILE.values() for tz in zones}


def _digests(out_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out_dir.glob("*.jsonl"))}


def _read(out_dir: Path) -> list[tuple[str, dict]]:
    calls = []
    for path in sorted(out_dir.glob("events_*.jsonl")):
        with path.open("rb") as f:
            calls.extend((path.name, orjson.loads(line)) for line in f)
    return calls


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = generate(CUSTOMERS, DAYS, 42, out, end=END)
    return summary, _read(out)


@pytest.fixture(scope="module")
def tracks(run):
    return [c for _, c in run[1] if c["type"] == "track"]


def _props(tracks, event):
    return [c["properties"] for c in tracks if c["event"] == event]


# --- determinism -------------------------------------------------------------------

def test_same_arguments_give_identical_bytes(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    generate(120, 30, 7, first, end=END)
    generate(120, 30, 7, second, end=END)
    assert _digests(first) == _digests(second)
    assert len(_digests(first)) == 30


def test_different_seed_gives_different_output(tmp_path):
    generate(120, 30, 7, tmp_path / "a", end=END)
    generate(120, 30, 8, tmp_path / "b", end=END)
    assert _digests(tmp_path / "a") != _digests(tmp_path / "b")


def test_a_customer_does_not_depend_on_how_many_others_there_are(tmp_path):
    # Customers are written one after another, so a smaller run is a prefix of a larger one.
    generate(40, 30, 3, tmp_path / "small", end=END)
    generate(80, 30, 3, tmp_path / "large", end=END)
    for small in sorted((tmp_path / "small").glob("*.jsonl")):
        assert (tmp_path / "large" / small.name).read_bytes().startswith(small.read_bytes())


def test_the_last_days_alone_are_the_same_bytes_as_in_the_whole_run(tmp_path):
    # The benchmarks take a longer window's new days without writing the rest of it.
    whole = generate(60, 12, 5, tmp_path / "whole", end=END)
    tail = generate(60, 12, 5, tmp_path / "tail", end=END, write_from=(END - timedelta(days=2)).date())
    assert [p.name for p in tail.files] == ["events_2026-02-27.jsonl", "events_2026-02-28.jsonl"]
    assert sorted(p.name for p in (tmp_path / "tail").iterdir()) == [p.name for p in tail.files]
    assert _digests(tmp_path / "tail") == {name: digest for name, digest in _digests(tmp_path / "whole").items() if name in
                                          ("events_2026-02-27.jsonl", "events_2026-02-28.jsonl")}
    assert 0 < tail.events == len(_read(tmp_path / "tail")) < whole.events


def test_summary_matches_files(run):
    summary, calls = run
    assert summary.events == len(calls) == sum(summary.by_event.values())
    assert summary.customers == CUSTOMERS
    assert len(summary.files) == DAYS and all(p.exists() for p in summary.files)
    assert summary.window_start == END - timedelta(days=DAYS) and summary.window_end == END
    assert 40 <= summary.events / CUSTOMERS <= 60


# --- envelope ----------------------------------------------------------------------

REQUIRED = {
    "track": {"type", "messageId", "timestamp", "event", "properties", "context"},
    "page": {"type", "messageId", "timestamp", "name", "properties", "context"},
    "identify": {"type", "messageId", "timestamp", "traits", "context"},
    "alias": {"type", "messageId", "timestamp", "previousId", "userId", "context"},
}


def test_every_call_carries_its_envelope(run):
    _, calls = run
    types = Counter()
    for _, call in calls:
        types[call["type"]] += 1
        assert REQUIRED[call["type"]] <= call.keys(), call
        assert call.get("anonymousId") or call.get("userId")
        ctx = call["context"]
        assert ctx["timezone"] in ZONES
        assert ctx["device"]["type"] in ("ios", "android", "desktop", "tablet") and ctx["device"]["id"]
        assert ctx["library"]["name"] and ctx["library"]["version"]
        assert re.fullmatch(r"(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}", ctx["ip"])
        assert ctx["userAgent"]
        if call["type"] == "page":
            page = call["properties"]
            assert set(page) == {"url", "path", "title", "referrer"} and ctx["page"] == page
            assert page["url"].endswith(page["path"])
    assert set(types) == set(REQUIRED)


def test_message_ids_are_unique_and_uuid_shaped(run):
    ids = [call["messageId"] for _, call in run[1]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)


def test_timestamps_are_inside_the_window_and_in_their_day_file(run):
    start = END - timedelta(days=DAYS)
    shapes = Counter()
    for file_name, call in run[1]:
        text = call["timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)", text), text
        shapes["Z" if text.endswith("Z") else "offset"] += 1
        instant = datetime.fromisoformat(text)
        assert start <= instant < END
        assert file_name == f"events_{instant.astimezone(timezone.utc):%Y-%m-%d}.jsonl"
    assert shapes["Z"] > shapes["offset"] > 0


def test_local_offsets_match_the_customers_time_zone(run):
    import zoneinfo
    checked = 0
    for _, call in run[1]:
        if call["timestamp"].endswith("Z"):
            continue
        instant = datetime.fromisoformat(call["timestamp"])
        expected = instant.astimezone(zoneinfo.ZoneInfo(call["context"]["timezone"])).utcoffset()
        assert instant.utcoffset() == expected, call["timestamp"]
        checked += 1
    assert checked > 100


def test_offsets_follow_daylight_saving_changes():
    def hour(text: str) -> int:
        return int(datetime.fromisoformat(text).timestamp()) // 3600

    # New York springs forward at 07:00 UTC on 2026-03-08; Berlin and London at 01:00 UTC
    # on 2026-03-29; Sydney falls back at 16:00 UTC on 2026-04-04; Kolkata never changes.
    assert _offset_minutes("America/New_York", hour("2026-03-08T06:00+00:00")) == -300
    assert _offset_minutes("America/New_York", hour("2026-03-08T07:00+00:00")) == -240
    assert _offset_minutes("Europe/Berlin", hour("2026-03-29T00:00+00:00")) == 60
    assert _offset_minutes("Europe/Berlin", hour("2026-03-29T01:00+00:00")) == 120
    assert _offset_minutes("Europe/London", hour("2026-03-29T01:00+00:00")) == 60
    assert _offset_minutes("Australia/Sydney", hour("2026-04-04T15:00+00:00")) == 660
    assert _offset_minutes("Australia/Sydney", hour("2026-04-04T16:00+00:00")) == 600
    assert _offset_minutes("Asia/Kolkata", hour("2026-07-01T00:00+00:00")) == 330


def test_day_files_are_named_after_the_window(tmp_path):
    # Window [end - days, end): a 2-day run ending 2026-03-01 writes Feb 27 and 28.
    summary = generate(5, 2, 1, tmp_path, end=END)
    assert [p.name for p in summary.files] == ["events_2026-02-27.jsonl", "events_2026-02-28.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in summary.files]


# --- event contract ----------------------------------------------------------------

def test_vocabulary_is_exactly_the_documented_one(tracks):
    assert set(c["event"] for c in tracks) == set(TRACK_EVENTS)


EXPECTED_PROPERTIES = {
    "session_started": {"session_id"},
    "pricing_page_viewed": {"plan_viewed"},
    "signup_started": {"method"},
    "signup_completed": {"method", "plan"},
    "product_viewed": {"product_id", "sku", "name", "category", "price", "currency"},
    "search_performed": {"query", "results_count"},
    "cart_added": {"cart_id", "product_id", "sku", "name", "category", "price", "quantity", "currency"},
    "checkout_started": {"cart_id", "revenue", "currency", "products"},
    "subscription_started": {"subscription_id", "plan", "interval", "mrr", "currency"},
    "subscription_upgraded": {"subscription_id", "from_plan", "to_plan", "mrr", "currency"},
    "subscription_renewed": {"subscription_id", "plan", "mrr", "currency"},
    "cancel_initiated": {"subscription_id", "reason"},
    "onboarding_step_completed": {"step", "step_number"},
    "feature_used": {"feature"},
    "integration_connected": {"integration"},
    "invite_sent": {"invite_count"},
    "help_article_viewed": {"article_id", "title"},
    "newsletter_subscribed": {"source", "list"},
}


def test_properties_have_the_documented_shape(tracks):
    for call in tracks:
        event, props = call["event"], call["properties"]
        if event == "purchase_made":
            assert {"order_id", "cart_id", "revenue", "currency", "products"} <= props.keys()
            assert props.keys() <= {"order_id", "cart_id", "revenue", "currency", "products", "coupon", "discount"}
        elif event.endswith(("_consent_given", "_consent_withdrawn")):
            assert set(props) == {"source"}
        else:
            assert set(props) == EXPECTED_PROPERTIES[event], call
    assert {p["plan"] for p in _props(tracks, "signup_completed")} == {"trial"}
    assert {p["plan"] for p in _props(tracks, "subscription_started")} <= {"starter", "pro", "business"}
    assert {p["interval"] for p in _props(tracks, "subscription_started")} == {"month", "year"}
    steps = {(p["step"], p["step_number"]) for p in _props(tracks, "onboarding_step_completed")}
    assert steps == {("create_project", 1), ("invite_team", 2), ("connect_integration", 3),
                     ("import_data", 4), ("create_report", 5)}


def test_purchase_revenue_equals_its_product_lines(tracks):
    purchases = _props(tracks, "purchase_made")
    assert purchases and any("coupon" in p for p in purchases)
    for props in purchases:
        subtotal = sum(round(line["price"] * 100) * line["quantity"] for line in props["products"])
        discount = round(props.get("discount", 0) * 100)
        assert round(props["revenue"] * 100) == subtotal - discount
        assert ("coupon" in props) == ("discount" in props)
        assert props["revenue"] == round(props["revenue"], 2)
    for props in _props(tracks, "checkout_started"):
        assert round(props["revenue"] * 100) == sum(round(l["price"] * 100) * l["quantity"] for l in props["products"])


def test_currency_follows_country(run):
    _, calls = run
    currency_by_zone = defaultdict(set)
    for _, call in calls:
        if call["type"] == "track" and "currency" in call["properties"]:
            currency_by_zone[call["context"]["timezone"]].add(call["properties"]["currency"])
    assert currency_by_zone["Europe/London"] == {"GBP"}
    assert currency_by_zone["Europe/Berlin"] == {"EUR"}
    assert currency_by_zone["America/New_York"] == {"USD"}


def test_every_visit_starts_with_session_started(run):
    # The first call of each customer device in the window is a session_started,
    # unless the visit began before the window.
    first_seen = {}
    for _, call in run[1]:
        first_seen.setdefault(call["anonymousId"] if "anonymousId" in call else call["userId"], call)
    starts = sum(1 for c in first_seen.values() if c.get("event") == "session_started")
    assert starts / len(first_seen) > 0.8


def test_lapsed_customers_fall_silent_weeks_before_the_end(tmp_path):
    # Drive customers directly to know their persona; the clock ends at their last call.
    end_ms = int(END.timestamp() * 1000)
    sink = _Sink(tmp_path, end_ms - DAYS * DAY_MS, end_ms)
    silences, active_elsewhere = [], 0
    try:
        for index in range(400):
            customer = _Customer(index, 5, sink)
            customer.run()
            if customer.persona == "lapsed":
                silences.append((end_ms - customer.t) / DAY_MS)
            elif end_ms - customer.t < 7 * DAY_MS:
                active_elsewhere += 1
    finally:
        sink.close()
    assert len(silences) >= 20 and min(silences) >= 20
    assert active_elsewhere >= 50  # the others do stay active up to the end


# --- identity ----------------------------------------------------------------------

def test_identity_stitching_material_is_present(run):
    _, calls = run
    identifies = [c for _, c in calls if c["type"] == "identify"]
    assert any("userId" in c for c in identifies)
    assert any("userId" not in c and set(c["traits"]) == {"email"} for c in identifies)  # newsletter leads
    anon_by_user = defaultdict(set)
    for _, call in calls:
        if call.get("userId") and call.get("anonymousId"):
            anon_by_user[call["userId"]].add(call["anonymousId"])
    assert any(len(anons) >= 2 for anons in anon_by_user.values())  # one person, several devices
    users = {c["userId"] for _, c in calls if c.get("userId")}
    anonymous_only = {c["anonymousId"] for _, c in calls if not c.get("userId")} - set().union(*anon_by_user.values())
    assert users and len(anonymous_only) > len(users) / 4  # plenty of people never identify
    aliases = [c for _, c in calls if c["type"] == "alias"]
    assert aliases and all(a["previousId"] != a["userId"] for a in aliases)
    traits = [c["traits"] for c in identifies if "first_name" in c["traits"]]
    assert traits and all(re.fullmatch(r"[A-Z]{2}", t["country"]) for t in traits)
    assert any("company" in t for t in traits)
    datetime.fromisoformat(traits[0]["created_at"])


def test_emails_and_phones_arrive_messy(run):
    _, calls = run
    emails = [c["traits"]["email"] for _, c in calls if c["type"] == "identify" and "email" in c["traits"]]
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() == e.strip().upper() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    assert all("@" in e for e in emails)
    domains = {e.strip().lower().rsplit("@", 1)[1] for e in emails}
    assert all(d.endswith((".example", "example.com", "example.org", "example.net")) or d == "test.com" for d in domains)

    with_phone = [c["traits"] for _, c in calls if c["type"] == "identify" and "phone" in c["traits"]]
    assert all(re.fullmatch(r"[A-Z]{2}", t.get("country", "")) for t in with_phone)  # needed to parse national formats
    phones = [t["phone"] for t in with_phone]
    stripped = [p.strip() for p in phones]
    assert any(re.fullmatch(r"\(\d{3}\) 555-01\d\d", p) for p in stripped)  # US national
    assert any(p.startswith("+1 ") for p in stripped)  # US international
    assert any(re.fullmatch(r"0\d[\d ]+", p) and not p.startswith("00") for p in stripped)  # trunk-prefixed national
    assert any(p.startswith("+44") for p in stripped) or any(p.startswith("0044") for p in stripped)


def test_junk_identifiers_are_shared_by_several_people(run):
    _, calls = run
    users_by_email = defaultdict(set)
    users_by_anonymous = defaultdict(set)
    zero_phone_users = set()
    for _, call in calls:
        if call["type"] == "identify":
            traits = call["traits"]
            if "email" in traits and "userId" in call:
                users_by_email[traits["email"].strip().lower()].add(call["userId"])
            if traits.get("phone") == "0000000000":
                zero_phone_users.add(call.get("userId"))
        if call.get("anonymousId") in ("null", "-1", "anonymous") and call.get("userId"):
            users_by_anonymous[call["anonymousId"]].add(call["userId"])
    assert len(users_by_email["test@test.com"]) >= 2
    assert sum(len(users) for users in users_by_anonymous.values()) >= 2
    assert len(zero_phone_users) >= 2
    # Real addresses stay unique to one person.
    assert all(len(u) == 1 for e, u in users_by_email.items() if e != "test@test.com")


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate(10, 0, 1, tmp_path)
    with pytest.raises(ValueError):
        generate(-1, 5, 1, tmp_path)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_planted_effect_changes_only_the_goal_behaviour(tmp_path):
    """A zero effect rehearses and follows identity but writes the very same bytes (effects
    draw from their own stream); a real one on abandoned_cart takes purchases away."""
    end = datetime(2026, 3, 1, tzinfo=timezone.utc)
    plain = generate(customers=300, days=30, seed=9, out_dir=tmp_path / "plain", end=end)
    zero = generate(customers=300, days=30, seed=9, out_dir=tmp_path / "zero", end=end, plant={"abandoned_cart": 0.0})
    assert _files(tmp_path / "zero") == _files(tmp_path / "plain") and plain.customer_ids == ()
    assert len(zero.customer_ids) == 300 and all(c is None or c.startswith("cus_") for c in zero.customer_ids)

    planted = generate(customers=300, days=30, seed=9, out_dir=tmp_path / "planted", end=end, plant={"abandoned_cart": 1.0})
    # Lift +100%: half of the holdout's purchases go (about 10% of customers are held out).
    lost = plain.by_event["purchase_made"] - planted.by_event["purchase_made"]
    assert 0 < lost < plain.by_event["purchase_made"] * 0.15
