"""Acceptance 2 on demo data: the journey funnel reconciles with journey_instances
(entered = converted + exited + still active, per journey), and every analytics model's
counts agree with the tables they summarise.

One demo warehouse is built for the module: generate, load, the phone step, then
`dbt build` of the analytics models and everything upstream, with their data tests
(among them `funnel_reconciles`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.analytics.demo_warehouse import build_demo_warehouse


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, dbt_manifest) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("analytics"), customers=400, days=45, seed=11)


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_funnel_reconciles_with_the_instances(warehouse: Path) -> None:
    funnel = {row[0]: row[1:] for row in query(warehouse, """
        select journey, entered, converted, exited, active, exited_early, exited_completed,
               entered_treatment, entered_control
        from analytics.journey_funnel""")}
    instances = {row[0]: row[1:] for row in query(warehouse, """
        select journey, count(*),
               count(*) filter (where state = 'converted'),
               count(*) filter (where state in ('exited', 'completed')),
               count(*) filter (where state = 'active'),
               count(*) filter (where state = 'exited'),
               count(*) filter (where state = 'completed'),
               count(*) filter (where arm = 'treatment'),
               count(*) filter (where arm = 'control')
        from journeys.journey_instances group by journey""")}
    assert funnel == instances
    assert sum(row[0] for row in funnel.values()) > 100, "the demo enters journeys"
    for journey, (entered, converted, exited, active, *_rest) in funnel.items():
        assert entered == converted + exited + active, journey


def test_outcome_reasons_and_suppressions_add_up(warehouse: Path) -> None:
    by_outcome = dict(query(warehouse, """
        select journey || ':' || outcome, sum(instances) from analytics.journey_outcome_reasons group by 1"""))
    for journey, converted, exited, active in query(warehouse, "select journey, converted, exited, active from analytics.journey_funnel"):
        assert by_outcome.get(f"{journey}:converted", 0) == converted
        assert by_outcome.get(f"{journey}:exited", 0) == exited
        assert by_outcome.get(f"{journey}:active", 0) == active

    suppressed = dict(query(warehouse, "select journey, sum(suppressed) from analytics.journey_suppression_reasons group by 1"))
    decided = dict(query(warehouse, "select journey, count(*) from journeys.journey_decisions where status = 'suppressed' group by 1"))
    assert suppressed == decided
    steps = dict(query(warehouse, "select journey, sum(actions) from analytics.journey_step_funnel group by 1"))
    assert steps == dict(query(warehouse, "select journey, actions from analytics.journey_funnel where actions > 0"))


def test_lift_counts_match_the_arms(warehouse: Path) -> None:
    rows = query(warehouse, """
        select lift.journey, lift.treated_units, lift.control_units, lift.treated_conversions + lift.control_conversions,
               funnel.entered_treatment, funnel.entered_control, funnel.converted,
               lift.absolute_lift_lower <= lift.absolute_lift and lift.absolute_lift <= lift.absolute_lift_upper
        from analytics.journey_lift as lift
        inner join analytics.journey_funnel as funnel using (journey)""")
    assert rows
    for journey, treated, control, conversions, entered_treatment, entered_control, converted, within in rows:
        assert (treated, control, conversions) == (entered_treatment, entered_control, converted), journey
        assert within in (True, None), journey  # the point estimate lies inside its interval
