"""Sessions span a customer's devices (30 minutes of inactivity), and the incremental
build (visits resumed per device, sessions recomputed per changed customer) equals a
Python sessionisation of all calls, load after load, late calls included."""

from __future__ import annotations

import random
from datetime import timedelta

from conftest import PROFILE_MARTS, START, Calls, customers_by_identifier, load, query


def reference_sessions(calls_by_user: dict[str, list]) -> set[tuple]:
    sessions = set()
    for user, times in calls_by_user.items():
        times = sorted(times)
        start = previous = times[0]
        count = 1
        for t in times[1:]:
            if t - previous > timedelta(minutes=30):
                sessions.add((user, start, previous, count))
                start, count = t, 0
            previous = t
            count += 1
        sessions.add((user, start, previous, count))
    return sessions


def test_sessions_across_devices_and_loads_equal_a_reference(warehouse, tmp_path, dbt):
    rng = random.Random(7)
    users = [f"usr-{n}" for n in range(25)]
    devices = {user: [f"{user}-dev{d}" for d in range(rng.randint(1, 3))] for user in users}
    calls_by_user: dict[str, list] = {user: [] for user in users}

    setup = Calls()
    for user in users:  # every device logs in once, so all of them resolve to the user
        for device in devices[user]:
            setup.identify(anonymous_id=device, user_id=user, at=START - timedelta(days=30))
    files = [setup.write(tmp_path / "0.jsonl")]

    for batch in range(1, 4):
        calls = Calls()
        for user in users:
            for _ in range(rng.randint(5, 40)):
                # later loads mostly continue the story, but some calls arrive late:
                # inside, before or between visits that earlier loads already built
                day = rng.choice([batch * 2, batch * 2 + 1]) if rng.random() < 0.8 else rng.randint(0, batch * 2)
                at = START + timedelta(days=day, minutes=rng.choice([0, 10, 25, 40, 65, 70, 95, 300, 310]) + rng.randint(0, 9))
                device = rng.choice(devices[user])
                event = rng.choice(["product_viewed", "session_started", "cart_added"])
                calls.track(event, anonymous_id=device, user_id=user if rng.random() < 0.5 else None, at=at)
                calls_by_user[user].append(at.replace(tzinfo=None))
        files.append(calls.write(tmp_path / f"{batch}.jsonl"))

    load(warehouse, files[0], files[1])
    dbt.build(warehouse, select=PROFILE_MARTS)
    for path in files[2:]:
        load(warehouse, path)
        dbt.build(warehouse, select=PROFILE_MARTS)

    customer_of = customers_by_identifier(warehouse)
    user_of = {customer_of[f"user_id:{u}"]: u for u in users}
    assert len(user_of) == len(users), "every user is one customer"
    actual = {(user_of[c], s, e, n) for c, s, e, n in query(warehouse, "select customer_id, started_at, ended_at, calls from marts.fct_sessions")}
    expected = reference_sessions(calls_by_user)
    assert any(n > 1 for *_, n in expected) and len(expected) > 100
    assert actual == expected

    every_column_but_when_loaded = (
        "select session_id, customer_id, session_number, started_at, ended_at, duration_seconds, calls, page_views, "
        "devices, timezone, identifiers_fingerprint from marts.fct_sessions"
    )
    incremental = sorted(query(warehouse, every_column_but_when_loaded))
    dbt.build(warehouse, select=PROFILE_MARTS, full_refresh=True)
    assert sorted(query(warehouse, every_column_but_when_loaded)) == incremental
