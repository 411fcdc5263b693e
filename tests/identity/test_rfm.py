"""RFM scores and segments equal a pandas reference of the documented rules
(models/marts/customer_rfm.sql), on demo data and on data built to be full of ties."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from conftest import DBT_PROJECT_DIR, PROFILE_MARTS, START, Calls, customers_by_identifier, load, query

SEEDS = DBT_PROJECT_DIR / "seeds"


def purchases_from_files(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        for line in open(path):
            call = json.loads(line)
            if call["type"] == "track" and call["event"] == "purchase_made":
                props = call["properties"]
                rows.append({
                    "message_id": call["messageId"],
                    "order_id": props["order_id"],
                    "user_id": call.get("userId"),
                    "anonymous_id": call.get("anonymousId"),
                    "ordered_at": pd.Timestamp(call["timestamp"]).tz_convert("UTC").tz_localize(None),
                    "revenue": Decimal(str(props["revenue"])),
                    "currency": props["currency"].upper(),
                })
    return pd.DataFrame(rows)


def reference_rfm(purchases: pd.DataFrame, customer_of: dict[str, str], now: datetime, window_days: int) -> pd.DataFrame:
    rates = {r["currency_code"]: Decimal(r["usd_per_unit"]) for r in csv.DictReader(open(SEEDS / "exchange_rates.csv"))}
    segments = sorted(csv.DictReader(open(SEEDS / "rfm_segments.csv")), key=lambda r: int(r["priority"]))

    orders = purchases.sort_values(["ordered_at", "message_id"]).drop_duplicates("order_id").copy()
    orders["customer_id"] = [
        customer_of.get(f"user_id:{u}") or customer_of.get(f"anonymous_id:{a}") for u, a in zip(orders.user_id, orders.anonymous_id)
    ]
    orders["revenue_usd"] = [r * rates[c] for r, c in zip(orders.revenue, orders.currency)]
    orders = orders[(orders.ordered_at <= now) & (orders.ordered_at > now - timedelta(days=window_days)) & orders.customer_id.notna()]

    rfm = orders.groupby("customer_id").agg(
        last_ordered_at=("ordered_at", "max"), frequency=("order_id", "count"), monetary=("revenue_usd", "sum")
    ).reset_index()
    rfm["recency_days"] = [(now.date() - t.date()).days for t in rfm.last_ordered_at]
    n = len(rfm)
    # Position = how many customers are strictly worse; score = 1 + floor(5 * position / n).
    for score, column, best_last_key in (("r_score", "recency_days", lambda v: -v), ("f_score", "frequency", lambda v: v), ("m_score", "monetary", lambda v: v)):
        keys = [best_last_key(v) for v in rfm[column]]
        rfm[score] = [1 + math.floor(5 * sum(1 for other in keys if other < k) / n) for k in keys]

    def segment(r, f, m):
        for s in segments:
            if int(s["r_min"]) <= r <= int(s["r_max"]) and int(s["f_min"]) <= f <= int(s["f_max"]) and int(s["m_min"]) <= m <= int(s["m_max"]):
                return s["segment_name"]
        return None

    rfm["segment_name"] = [segment(*t) for t in zip(rfm.r_score, rfm.f_score, rfm.m_score)]
    return rfm


def actual_rfm(warehouse) -> pd.DataFrame:
    rows = query(warehouse, "select customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment_name from marts.customer_rfm")
    return pd.DataFrame(rows, columns=["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment_name"])


def assert_same(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    columns = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment_name"]
    a = sorted(tuple(r) for r in actual[columns].itertuples(index=False))
    e = sorted(tuple(r) for r in expected[columns].itertuples(index=False))
    assert [(c, int(rd), int(f), Decimal(m), int(r), int(fs), int(ms), s) for c, rd, f, m, r, fs, ms, s in a] == \
           [(c, int(rd), int(f), Decimal(m), int(r), int(fs), int(ms), s) for c, rd, f, m, r, fs, ms, s in e]


def test_rfm_on_demo_data_equals_the_reference(warehouse, tmp_path, dbt):
    from orchestration.demo_data.generator import generate

    out = tmp_path / "demo"
    generate(customers=400, days=90, seed=3, out_dir=out, end=datetime(2026, 3, 1))
    files = sorted(out.glob("*.jsonl"))
    load(warehouse, *files)
    now = datetime(2026, 3, 1)
    dbt.build(warehouse, select="+customer_rfm +customer_identifiers", variables={"now": now.isoformat(), "rfm_window_days": 60})

    expected = reference_rfm(purchases_from_files(files), customers_by_identifier(warehouse), now, 60)
    actual = actual_rfm(warehouse)
    assert len(expected) > 50 and expected.segment_name.nunique() >= 6
    assert_same(actual, expected)


def test_rfm_with_many_ties_equals_the_reference(warehouse, tmp_path, dbt):
    # 60 buyers whose orders repeat a handful of values: the same day, the same count,
    # the same amounts, so every quintile boundary falls inside a tie.
    calls = Calls()
    for n in range(60):
        for k in range(1 + n % 3):
            calls.track("purchase_made", anonymous_id=f"dev-{n}", user_id=f"usr-{n}",
                        at=START + timedelta(days=50 - (n % 4) * 10 - k, hours=n % 5),
                        properties={"order_id": f"o-{n}-{k}", "revenue": [10, 20, 20.5][(n + k) % 2], "currency": ["USD", "EUR"][n % 2 if n < 30 else 0]})
    path = calls.write(tmp_path / "ties.jsonl")
    load(warehouse, path)
    now = START + timedelta(days=60)
    dbt.build(warehouse, select="+customer_rfm +customer_identifiers", variables={"now": now.replace(tzinfo=None).isoformat()})

    expected = reference_rfm(purchases_from_files([path]), customers_by_identifier(warehouse), now.replace(tzinfo=None), 365)
    actual = actual_rfm(warehouse)
    assert len(expected) == 60
    assert expected.frequency.nunique() == 3 and expected.recency_days.nunique() <= 12
    assert_same(actual, expected)
    # equal values, equal scores: ties are never split across quintiles
    assert actual.groupby("frequency").f_score.nunique().max() == 1
    assert actual.groupby("recency_days").r_score.nunique().max() == 1
