"""Acceptance 1: with a planted effect, the measured lift's 95% interval holds the truth
in at least 95% of seeds.

The lift SQL is the real one: the macro `conversion_lift` that `journey_lift` and
`journey_variant_results` call, compiled by dbt (`compile --inline`) and run in DuckDB
over simulated instances, one group per seed. Each seed draws treated and holdout
conversions with a known relative lift, so both the absolute truth (p0 * lift) and the
relative truth (lift) are known. The seeds are fixed, so the test is deterministic.

"At least 95% of seeds" is read as a statistical test, not as a literal fraction: an
exact 95% interval covers the truth with probability 0.95, so the literal fraction of a
finite set of seeds is below 0.95 about half the time (the Newcomb and Katz intervals
here cover 0.9496 and 0.9499 of 200,000 simulated experiments of this size). The test
fails when the number of seeds covered is significantly below 95% (one-sided exact
binomial test, alpha = 0.01), and reports the observed coverage.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

SEEDS = range(400)
ALPHA = 0.01
BASE_RATE = 0.15
TRUE_RELATIVE_LIFT = 0.20
TREATED_UNITS = 2700   # a 10% holdout of 3,000 entries would be 300; more keeps Katz in its regime
CONTROL_UNITS = 1300


def compile_inline(sql: str, tmp: Path) -> str:
    env = os.environ | {"THROUGHLINE_WAREHOUSE": str(tmp / "compile.duckdb"),
                        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [str(DBT), "compile", "--quiet", "--profiles-dir", ".", "--target-path", str(tmp / "target"),
         "--log-path", str(tmp / "logs"), "--inline", sql],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fewest_consistent_with(rate: float, trials: int, alpha: float = ALPHA) -> int:
    """The smallest success count not significantly below `rate` (one-sided exact binomial)."""
    tail = 0.0
    for k in range(trials + 1):
        tail += math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k)
        if tail > alpha:
            return k
    return trials


def simulate(seed: int, relative_lift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    treated = rng.random(TREATED_UNITS) < BASE_RATE * (1 + relative_lift)
    control = rng.random(CONTROL_UNITS) < BASE_RATE
    return pd.DataFrame({
        "seed": seed,
        "arm": ["treatment"] * TREATED_UNITS + ["control"] * CONTROL_UNITS,
        "is_converted": np.concatenate([treated, control]).astype("int32"),
    })


@pytest.fixture(scope="module")
def lift_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    return compile_inline("{{ conversion_lift('simulated', ['seed']) }}", tmp_path_factory.mktemp("dbt"))


def measure(lift_sql: str, relative_lift: float) -> pd.DataFrame:
    simulated = pd.concat([simulate(seed, relative_lift) for seed in SEEDS], ignore_index=True)
    con = duckdb.connect()
    con.register("simulated_frame", simulated)
    con.execute("create table simulated as select * from simulated_frame")
    return con.sql(lift_sql).df().sort_values("seed").reset_index(drop=True)


def test_planted_lift_is_within_its_interval_in_95_percent_of_seeds(lift_sql: str) -> None:
    results = measure(lift_sql, TRUE_RELATIVE_LIFT)
    assert len(results) == len(SEEDS)

    true_absolute = BASE_RATE * TRUE_RELATIVE_LIFT
    absolute_covered = (results.absolute_lift_lower <= true_absolute) & (true_absolute <= results.absolute_lift_upper)
    relative_covered = (results.relative_lift_lower <= TRUE_RELATIVE_LIFT) & (TRUE_RELATIVE_LIFT <= results.relative_lift_upper)
    fewest = fewest_consistent_with(0.95, len(SEEDS))
    assert absolute_covered.sum() >= fewest, f"absolute coverage {absolute_covered.mean():.3f} of {len(SEEDS)} seeds"
    assert relative_covered.sum() >= fewest, f"relative coverage {relative_covered.mean():.3f} of {len(SEEDS)} seeds"

    # Not covered by being uselessly wide: the intervals are about as wide as the normal
    # approximation says (2 * 1.96 * standard error), and the point estimates are unbiased.
    p1, p0 = BASE_RATE * (1 + TRUE_RELATIVE_LIFT), BASE_RATE
    standard_error = np.sqrt(p1 * (1 - p1) / TREATED_UNITS + p0 * (1 - p0) / CONTROL_UNITS)
    width = (results.absolute_lift_upper - results.absolute_lift_lower).mean()
    assert width == pytest.approx(2 * 1.959964 * standard_error, rel=0.05)
    assert results.absolute_lift.mean() == pytest.approx(true_absolute, abs=3 * standard_error / np.sqrt(len(SEEDS)))
    assert (results.treated_units == TREATED_UNITS).all() and (results.control_units == CONTROL_UNITS).all()


def test_no_effect_is_rarely_called_significant(lift_sql: str) -> None:
    results = measure(lift_sql, 0.0)
    significant = (results.absolute_lift_lower > 0) | (results.absolute_lift_upper < 0)
    # Not significantly more than 5% false positives: the same test on the complement.
    assert (~significant).sum() >= fewest_consistent_with(0.95, len(SEEDS)), \
        f"{significant.mean():.3f} of seeds called a null effect significant"


def test_counts_rates_and_edge_cases(tmp_path: Path, lift_sql: str) -> None:
    con = duckdb.connect()
    con.execute("""
        create table simulated as select * from (values
            -- 1: 30/100 treated vs 20/100 control
            (1, 'treatment', 30, 100), (1, 'control', 20, 100),
            -- 2: no holdout at all
            (2, 'treatment', 5, 50),
            -- 3: no control conversions: relative lift undefined, absolute still bounded
            (3, 'treatment', 4, 40), (3, 'control', 0, 40)
        ) as counts(seed, arm, conversions, units),
        lateral (select case when i <= conversions then 1 else 0 end as is_converted
                 from range(1, units + 1) as r(i))
    """)
    rows = {row["seed"]: row for row in con.sql(lift_sql).df().to_dict("records")}

    one = rows[1]
    assert (one["treated_units"], one["treated_conversions"], one["control_units"], one["control_conversions"]) == (100, 30, 100, 20)
    assert one["absolute_lift"] == pytest.approx(0.10)
    assert one["relative_lift"] == pytest.approx(0.50)
    # Newcomb (1998) method 10 and Katz, computed independently.
    assert one["absolute_lift_lower"] == pytest.approx(newcomb(30, 100, 20, 100)[0], abs=1e-9)
    assert one["absolute_lift_upper"] == pytest.approx(newcomb(30, 100, 20, 100)[1], abs=1e-9)
    se = np.sqrt(1 / 30 - 1 / 100 + 1 / 20 - 1 / 100)
    assert one["relative_lift_lower"] == pytest.approx(1.5 * np.exp(-1.959963984540054 * se) - 1)
    assert one["relative_lift_upper"] == pytest.approx(1.5 * np.exp(1.959963984540054 * se) - 1)

    assert rows[2]["control_units"] == 0
    assert pd.isna(rows[2]["absolute_lift_lower"]) and pd.isna(rows[2]["relative_lift"])

    assert rows[3]["absolute_lift_lower"] < 0.1 < rows[3]["absolute_lift_upper"]
    assert pd.isna(rows[3]["relative_lift"]) and pd.isna(rows[3]["relative_lift_lower"])


def wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcomb(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    return d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
