"""Acceptance 1 through the real pipeline: the generator plants a known effect
(`throughline generate --plant-effect JOURNEY=RELATIVE_LIFT`), the events go through
load, identity and the real journey and analytics models, and `journey_lift` must find it.

The many-seed statistics of the interval itself are in test_lift_coverage.py (the same
macro over 400 simulated experiments). Here each seed is a full dbt build, so a few
seeds: each planted journey's reported interval must hold the truth in a share of them
not significantly below 95% (the same one-sided binomial test), and pooled over the
seeds the effect must be found, in its direction and size. The planted effect only
works if the generator gives the treated and holdout arms the journey models give, so
that is checked first: the Python hash against the compiled macro, and every journey
instance's arm against the generator's.
"""

from __future__ import annotations

import math
import random
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from orchestration.demo_data.generator import generate, holdout_arm, stable_bucket
from tests.analytics.demo_warehouse import BIN, END, ROOT, build_demo_warehouse
from tests.analytics.test_lift_coverage import compile_inline, fewest_consistent_with

PLANTED = {"abandoned_cart": 0.5, "trial_onboarding": -0.3}  # one raised, one lowered
SEEDS = (31, 32, 33)
CUSTOMERS = 1000  # over 523, so test@test.com is excluded and every customer id is predictable
Z = 1.959963984540054


def test_python_stable_bucket_is_the_sql_macro(tmp_path: Path) -> None:
    sql = compile_inline("{{ stable_bucket('t.text', 10000) }}", tmp_path).strip()
    rng = random.Random(5)
    texts = [f"abandoned_cart:cus_{rng.getrandbits(64):016x}" for _ in range(2000)]
    texts += ["", "win_back:", "ünïcode:cus_é", "a" * 300]
    with duckdb.connect() as con:
        con.execute("create table t (text varchar)")
        con.executemany("insert into t values (?)", [(t,) for t in texts])
        buckets = con.execute(f"select text, {sql} from t").fetchall()
    assert len(buckets) == len(texts)
    assert all(bucket == stable_bucket(text, 10000) for text, bucket in buckets)
    assert len({b for _, b in buckets}) > 1500  # spread over the buckets, not a constant


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory: pytest.TempPathFactory, dbt_manifest) -> list[Path]:
    return [build_demo_warehouse(tmp_path_factory.mktemp(f"planted{seed}"), customers=CUSTOMERS, days=45, seed=seed, plant=PLANTED)
            for seed in SEEDS]


def test_the_generator_gives_the_arms_the_journeys_give(planted_runs, tmp_path: Path) -> None:
    warehouse = planted_runs[0]
    # The generator's prediction of each customer's warehouse id (the same run, replayed).
    summary = generate(customers=CUSTOMERS, days=45, seed=SEEDS[0], out_dir=tmp_path, end=date.fromisoformat(END), plant=PLANTED)
    predicted = [c for c in summary.customer_ids if c]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        customers = {c for (c,) in con.execute("select customer_id from marts.dim_customers").fetchall()}
        instances = con.execute("select journey, customer_id, arm from journeys.journey_instances "
                                "where journey in ('abandoned_cart', 'trial_onboarding')").fetchall()
    assert len(predicted) == len(set(predicted)) > CUSTOMERS * 0.8
    assert set(predicted) <= customers
    holdouts = {effect.journey: effect.holdout_percent for effect in summary.planted}
    assert holdouts == {"abandoned_cart": 10.0, "trial_onboarding": 10.0}
    assert len(instances) > 500 and {arm for *_, arm in instances} == {"treatment", "control"}
    assert all(holdout_arm(journey, customer, holdouts[journey]) == arm for journey, customer, arm in instances)


def test_the_reported_interval_holds_the_planted_lift(planted_runs) -> None:
    measured: dict[str, list[tuple]] = {journey: [] for journey in PLANTED}
    for warehouse in planted_runs:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            for row in con.execute("""
                    select journey, treated_units, treated_conversions, control_units, control_conversions,
                           relative_lift, relative_lift_lower, relative_lift_upper
                    from analytics.journey_lift where journey in ('abandoned_cart', 'trial_onboarding')""").fetchall():
                measured[row[0]].append(row[1:])

    covered = [lower <= PLANTED[journey] <= upper
               for journey, rows in measured.items() for *_, lower, upper in rows]
    assert len(covered) == len(SEEDS) * len(PLANTED)
    assert sum(covered) >= fewest_consistent_with(0.95, len(covered)), measured

    for journey, rows in measured.items():
        # Pooled over the seeds: the Katz interval of the pooled risk ratio holds the
        # truth and excludes no effect, so the effect is found, not just not ruled out.
        n1, x1, n0, x0 = (sum(row[i] for row in rows) for i in range(4))
        ratio = (x1 / n1) / (x0 / n0)
        half = Z * math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
        lower, upper = ratio * math.exp(-half) - 1, ratio * math.exp(half) - 1
        truth = PLANTED[journey]
        assert lower <= truth <= upper, (journey, ratio - 1, lower, upper)
        assert (lower > 0) if truth > 0 else (upper < 0), (journey, lower, upper)


def test_plant_effect_on_the_command_line(tmp_path: Path) -> None:
    def run(*plant: str) -> subprocess.CompletedProcess:
        args = [str(BIN / "throughline"), "generate", "--customers", "30", "--days", "5", "--end", "2026-03-01",
                "--out", str(tmp_path / "out")]
        return subprocess.run(args + [a for p in plant for a in ("--plant-effect", p)], cwd=ROOT,
                              capture_output=True, text=True)

    ok = run("abandoned_cart=0.2")
    assert ok.returncode == 0 and "planted: abandoned_cart treated customers convert 1.20x" in ok.stdout, ok.stderr
    for bad, message in (("win_back=0.2", "can't plant an effect on 'win_back'"), ("nope=0.2", "no journey named 'nope'"),
                         ("upsell=0.2", "upsell has no holdout"), ("abandoned_cart=-1", "above -1"),
                         ("abandoned_cart", "JOURNEY=RELATIVE_LIFT")):
        result = run(bad)
        assert result.returncode == 2 and message in result.stderr, (bad, result.stderr)
