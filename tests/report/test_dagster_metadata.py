"""Acceptance 4: a journey asset materialized through Dagster carries its funnel and its
lift (numbers, and markdown charts the UI renders), equal to the analytics models."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.report.metadata import FUNNEL_METRICS, LIFT_METRICS, interval_line, lift_markdown
from tests.analytics.demo_warehouse import NOW

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")

JOURNEYS_WITH_HOLDOUT = ("abandoned_cart", "trial_onboarding", "win_back")


@pytest.mark.slow
def test_journey_materializations_carry_funnel_and_lift(warehouse: Path, tmp_path: Path, dbt_manifest) -> None:
    from orchestration.cli import load_paths
    from orchestration.definitions import defs
    from orchestration.demo_data.generator import generate

    generate(customers=300, days=30, seed=3, out_dir=tmp_path / "data", end=date(2026, 3, 1))
    assert load_paths([tmp_path / "data"], quiet=True) == 0
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("build").execute_in_process(
            instance=instance, run_config={"ops": {"dbt_models": {"config": {"now": NOW}}}})
        assert result.success
        materialized = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}

    with duckdb.connect(str(warehouse), read_only=True) as con:
        funnels = {r[0]: r[1:] for r in con.execute(f"select journey, {', '.join(FUNNEL_METRICS)} from analytics.journey_funnel").fetchall()}
        lifts = {r[0]: r[1:] for r in con.execute(f"select journey, lift_verdict, {', '.join(LIFT_METRICS)} from analytics.journey_lift").fetchall()}
    assert set(JOURNEYS_WITH_HOLDOUT) <= set(funnels)

    for journey, values in funnels.items():
        metadata = materialized[dg.AssetKey(["journeys", f"journey__{journey}"])]
        for metric, value in zip(FUNNEL_METRICS, values):
            assert metadata[f"funnel/{metric}"].value == value, (journey, metric)
        entered, converted, exited, active = (metadata[f"funnel/{m}"].value for m in ("entered", "converted", "exited", "active"))
        assert entered == converted + exited + active
        chart = metadata["funnel"]
        assert isinstance(chart, dg.MarkdownMetadataValue) and f"| Entered | {entered:,} |" in chart.value
        canvas = metadata["canvas"].value  # the canvas as a table: a row per node, the entry's counts first
        treated = metadata["funnel/entered_treatment"].value
        assert canvas.splitlines()[2].startswith("| entry |") and f"entered {treated:,} · holdout {entered - treated:,}" in canvas
        assert f"converted {converted:,} · exited {exited:,} · active {active:,}" in canvas.splitlines()[-1]

        verdict, *figures = lifts[journey]
        assert metadata["lift/verdict"].value == verdict
        for metric, value in zip(LIFT_METRICS, figures):
            if value is None or math.isnan(value):
                assert f"lift/{metric}" not in metadata, (journey, metric)
            else:
                assert metadata[f"lift/{metric}"].value == pytest.approx(value, rel=1e-12), (journey, metric)
        assert isinstance(metadata["lift"], dg.MarkdownMetadataValue)
        if journey in JOURNEYS_WITH_HOLDOUT:
            assert "95% [" in metadata["lift"].value and "●" in metadata["lift"].value
        else:
            assert "No holdout" in metadata["lift"].value

    # Models other than the journeys keep dbt's own metadata only.
    assert not any(k.startswith(("funnel", "lift")) for k in materialized[dg.AssetKey(["analytics", "journey_lift"])])


def test_interval_line_places_the_interval_estimate_and_zero() -> None:
    line = interval_line(-0.1, 0.1, 0.3, width=41)
    assert line.index("├") == 0 and line.index("┤") == 40 and line.index("●") == 20 and line.index("┼") == 10
    clear = interval_line(0.1, 0.2, 0.3, width=41)  # an interval clear of zero: zero marked outside it
    assert clear.index("|") == 0 and clear.index("├") == 13 and clear.index("●") == 27 and clear.index("┤") == 40


def test_lift_chart_without_holdout_or_without_conversions() -> None:
    row = {"control_units": 0, "treated_units": 10, "treated_rate": 0.1, "control_rate": None}
    assert "No holdout" in lift_markdown(row)
    row = {"control_units": 40, "treated_units": 40, "treated_rate": 0.1, "control_rate": 0.0, "lift_verdict": "inconclusive",
           "absolute_lift": 0.1, "absolute_lift_lower": -0.02, "absolute_lift_upper": 0.23,
           "relative_lift": None, "relative_lift_lower": None, "relative_lift_upper": None}
    chart = lift_markdown(row)
    assert "absolute  +10.0 pts  95% [-2.0, +23.0]" in chart and "relative: undefined" in chart
