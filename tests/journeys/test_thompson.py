"""Adaptive variants (`strategy: thompson`): the declaration's errors, the shares against
independent computations, and a simulation in which one variant converts three times as
often as the other, decided tick by tick by the real dbt models on DuckDB and PostgreSQL."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from math import exp, lgamma, log
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.dbt.runner import in_process_dbt
from orchestration.journeys.spec import Catalog, JourneyError, parse_journey
from orchestration.warehouse import raw_layer
from tests.engines import environment
from tests.journeys.timeline import JourneyWarehouse, Timeline, days, engine_env_for, hours

# ------------------------------------------------------------------ declaration

CATALOG = Catalog(
    events=frozenset({"pricing_page_viewed", "signup_completed"}),
    segments=frozenset(),
    templates={name: {"subject": "s", "html": "h", "text": "t"} for name in ("story", "numbers", "third")},
)

GOOD = """
name: leads
entry: {event: pricing_page_viewed}
exit: {goals: [signup_completed]}
steps:
  - id: case_study
    send: {channel: email, destination: sendgrid}
    strategy: thompson
    floor: 0.1
    variants:
      - {name: story, template: story}
      - {name: numbers, template: numbers}
"""


def parse(text: str):
    return parse_journey(yaml.safe_load(text), Path("leads.yml"), CATALOG)


def test_a_thompson_step_parses_with_its_floor_and_a_default_one():
    step = parse(GOOD).steps[0]
    assert (step.strategy, step.floor, [v.name for v in step.variants]) == ("thompson", 0.1, ["story", "numbers"])
    assert parse(GOOD.replace("    floor: 0.1\n", "")).steps[0].floor == 0.05
    weighted = parse(GOOD.replace("    strategy: thompson\n    floor: 0.1\n", "").replace("story}", "story, weight: 1}")
                     .replace("numbers}", "numbers, weight: 3}"))
    assert (weighted.steps[0].strategy, [v.weight for v in weighted.steps[0].variants]) == ("weights", [1, 3])


@pytest.mark.parametrize("change, field, fix", [
    (("strategy: thompson", "strategy: epsilon_greedy"), "steps[0].strategy", "weights, thompson"),
    (("floor: 0.1", "floor: 1.5"), "steps[0].floor", "floor: 0.05"),
    (("floor: 0.1", "floor: -0.1"), "steps[0].floor", "floor: 0.05"),
    (("floor: 0.1", "floor: lots"), "steps[0].floor", "floor: 0.05"),
    (("floor: 0.1", "floor: 0.4"), "steps[0].floor", "at most 0.333"),  # 3 variants x 0.4 > 1
    (("    strategy: thompson\n", ""), "steps[0].floor", "strategy: thompson"),  # a floor needs thompson
    (("{name: story, template: story}", "{name: story, weight: 50, template: story}"), "steps[0].variants[0].weight", "remove the weights"),
])
def test_a_bad_thompson_declaration_names_the_field_and_the_fix(change, field, fix):
    text = GOOD.replace("      - {name: numbers, template: numbers}", "      - {name: numbers, template: numbers}\n      - {name: third, template: third}")
    with pytest.raises(JourneyError) as error:
        parse(text.replace(*change))
    assert error.value.journey == "leads" and error.value.field_path == field, str(error.value)
    assert fix in error.value.fix, str(error.value)


def test_fixed_weights_and_thompson_compile_to_their_own_assignment():
    from orchestration.journeys.compiler import render_journey
    from orchestration.journeys.policies import DEFAULTS

    weighted = parse(GOOD.replace("    strategy: thompson\n    floor: 0.1\n", "").replace("story}", "story, weight: 1}")
                     .replace("numbers}", "numbers, weight: 3}"))
    sql = render_journey(weighted, DEFAULTS, CATALOG)
    bucket = "{{ stable_bucket(\"'leads:case_study:' || t.customer_id\", 4) }}"
    assert f"case when {bucket} < 1 then 'story' when {bucket} < 4 then 'numbers' end as variant_case_study" in sql
    assert "variant_shares" not in sql
    adaptive = render_journey(parse(GOOD), DEFAULTS, CATALOG)
    assert "ref('variant_shares')" in adaptive and "when t.arm = 'control' then null" in adaptive


def test_a_strategy_without_variants_is_an_error():
    text = GOOD.replace("    variants:\n      - {name: story, template: story}\n      - {name: numbers, template: numbers}\n", "")
    text = text.replace("destination: sendgrid}", "template: story, destination: sendgrid}").replace("    floor: 0.1\n", "")
    with pytest.raises(JourneyError, match="needs variants") as error:
        parse(text)
    assert error.value.field_path == "steps[0].strategy"


# ------------------------------------------------------------------ the shares' arithmetic

# (successes, trials) per variant. Equal ones included: their shares must be equal.
CASES = {
    "brief_example": [(12, 310), (41, 300)],
    "no_data_yet": [(0, 0), (0, 0)],
    "close": [(30, 300), (36, 300)],
    "sharp_posteriors": [(5000, 100_000), (5150, 100_000)],
    "equal_three": [(20, 200), (20, 200), (20, 200)],
    "three_unequal": [(3, 40), (12, 100), (40, 300)],
    "all_converted_vs_none": [(10, 10), (0, 10)],
}
FLOOR = 0.05


def log_beta(a: float, b: float) -> float:
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def exact_p_second_beats_first(first: tuple[int, int], second: tuple[int, int]) -> float:
    """P(X2 > X1) for X ~ Beta(1 + s, 1 + t - s), in closed form (a finite sum for an
    integer first parameter, as derived by Evan Miller): no integration."""
    a1, b1 = 1 + first[0], 1 + first[1] - first[0]
    a2, b2 = 1 + second[0], 1 + second[1] - second[0]
    return sum(exp(log_beta(a1 + i, b1 + b2) - log(b2 + i) - log_beta(1 + i, b2) - log_beta(a1, b1)) for i in range(a2))


def monte_carlo_p_best(counts: list[tuple[int, int]], draws: int = 200_000) -> list[float]:
    rng = random.Random(23)
    wins = [0] * len(counts)
    for _ in range(draws):
        samples = [rng.betavariate(1 + s, 1 + t - s) for s, t in counts]
        wins[samples.index(max(samples))] += 1
    return [w / draws for w in wins]


def compiled_shares_sql(tmp_path: Path, env: dict[str, str]) -> str:
    """The real thompson_shares macro, compiled by dbt for the target `env` selects, over CASES."""
    rows = " union all ".join(
        f"select 'case' as journey, '{name}' as step_id, 'v{i}' as variant, {i} as variant_order, {FLOOR} as floor_share,"
        f" {s} as successes, {t} as trials"
        for name, counts in CASES.items() for i, (s, t) in enumerate(counts, start=1)
    )
    inline = f"with counts as ({rows}), shares as ({{{{ thompson_shares('counts') }}}}) select step_id, variant_order, p_best, share from shares"
    result = in_process_dbt().invoke(["compile", "--inline", inline], target_path=tmp_path / "target", env=env).raise_on_failure()
    return result.result.results[0].node.compiled_code


def by_case(rows) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for step_id, order, p_best, share in sorted(rows):
        out.setdefault(step_id, []).append((float(p_best), float(share)))
    return out


def check_against_references(shares: dict[str, list[tuple[float, float]]]) -> None:
    assert set(shares) == set(CASES)
    for name, counts in CASES.items():
        p_best = [p for p, _ in shares[name]]
        share = [s for _, s in shares[name]]
        if len(counts) == 2:
            expected = exact_p_second_beats_first(*counts)
            assert abs(p_best[1] - expected) < 1e-4, (name, p_best, expected)
        else:
            for got, expected in zip(p_best, monte_carlo_p_best(counts)):
                assert abs(got - expected) < 0.01, (name, p_best)
        assert abs(sum(share) - 1) < 1e-9 and min(share) >= FLOOR - 1e-12, (name, share)
        for p, s in zip(p_best, share):  # the floor for each, the rest by P(best)
            assert abs(s - (FLOOR + (1 - len(counts) * FLOOR) * p)) < 1e-9
        if len(set(counts)) == 1:  # equal variants: equal shares
            assert max(share) - min(share) < 1e-9, (name, share)


def test_shares_match_independent_computations_on_duckdb(tmp_path, dbt_manifest):
    sql = compiled_shares_sql(tmp_path, {"THROUGHLINE_TARGET": "duckdb", "THROUGHLINE_WAREHOUSE": str(tmp_path / "w.duckdb")})
    with duckdb.connect() as con:
        check_against_references(by_case(con.execute(sql).fetchall()))


def test_shares_match_independent_computations_on_postgres(tmp_path, dbt_manifest, postgres_warehouse, postgres_server):
    sql = compiled_shares_sql(tmp_path, postgres_server.env(postgres_warehouse))
    with postgres_server.connect(postgres_warehouse) as con:
        check_against_references(by_case(con.execute(sql).fetchall()))


# ------------------------------------------------------------------ the simulation

JOURNEY, STEP = "cancellation_win_back", "stay_offer"  # dbt_project/journeys/cancellation_win_back.yml
T0 = datetime(2026, 3, 2, 15, 0)  # 10:00 in New York: no quiet hours
TICKS = 3  # one a day; `pause` must pass 80% by the last (the first with outcomes: see below)
COHORT = 120  # new cancellations a tick
# `pause` wins subscribers back three times as often: the planted better variant.
PLANTED = {"discount": 0.1, "pause": 0.3}
EQUAL = {"discount": 0.2, "pause": 0.2}


def cohort(tick: int) -> Timeline:
    """Subscribers who cancelled a day and two hours before the tick: their stay offer
    came due two hours ago."""
    at = T0 + days(tick)
    timeline = Timeline(prefix=f"cohort{tick}")
    for n in range(COHORT):
        user = f"subscriber_{tick}_{n}"
        timeline.person(user, at - days(30), email=f"{user}@example.com")
        timeline.track(user, "cancel_initiated", at - days(1) - hours(2), plan="team")
    return timeline


def converts(action_id: str, rate: float) -> bool:
    """A fixed draw per action: the same on every engine and run."""
    draw = int(hashlib.sha256(action_id.encode()).hexdigest()[:8], 16) / 16**8
    return draw < rate


def send(warehouse: JourneyWarehouse, tick: int, rates: dict[str, float]) -> dict[str, int]:
    """What the message sync and the customers do after a tick: every due stay offer is
    sent (the ledger says so) and some subscribe again an hour later, by variant. Returns
    how many of the due messages went out with each variant."""
    at = T0 + days(tick)
    assert warehouse.render_messages() == []  # both templates render for every due message
    due = warehouse.query(
        "select action_id, customer_id, variant, destination, channel from journeys.journey_actions_due where journey = ? and step_id = ?",
        [JOURNEY, STEP],
    )
    users = dict(warehouse.query(
        "select customer_id, identifier_value from identity.int_identity__customer_map where identifier_type = 'user_id'"))
    with environment(warehouse.engine_env), raw_layer() as con:
        for action_id, customer_id, variant, destination, channel in due:
            con.execute(
                "insert into raw.delivery_ledger (action_id, status, sent_at, destination, journey, step_id, customer_id, channel, recorded_at) "
                "values (?, 'sent', ?, ?, ?, ?, ?, ?, ?)",
                [action_id, at + hours(0.1), destination, JOURNEY, STEP, customer_id, channel, at + hours(0.1)],
            )
    signups = Timeline(prefix=f"signups{tick}")
    for action_id, customer_id, variant, _, _ in due:
        if converts(action_id, rates[variant]):
            signups.track(users[customer_id], "subscription_started", at + hours(1), plan="team")
    warehouse.load(signups, name=f"signups{tick}")
    counts = {"discount": 0, "pause": 0}
    for _, _, variant, _, _ in due:
        counts[variant] += 1
    return counts


def simulate(warehouse: JourneyWarehouse, rates: dict[str, float]) -> list[dict]:
    """TICKS ticks, a day apart: a new cohort, the journey models built as of the tick, the
    tick's shares and reasons read, then the sends and the conversions they bring."""
    ticks = []
    for tick in range(TICKS):
        if tick:
            warehouse.load(cohort(tick), name=f"cohort{tick}")
        warehouse.decide(T0 + days(tick))
        recorded = warehouse.query(
            "select variant, share, successes, trials from journeys.variant_shares where journey = ? and step_id = ? and as_of = ?",
            [JOURNEY, STEP, T0 + days(tick)])
        shares = {variant: share for variant, share, _, _ in recorded}
        counts = {variant: f"{successes}/{trials}" for variant, _, successes, trials in recorded}
        reasons = [r for (r,) in warehouse.query(
            "select reason from journeys.journey_decisions where journey = ? and step_id = ? and status = 'due'", [JOURNEY, STEP])]
        ticks.append({"shares": shares, "counts": counts, "sent": send(warehouse, tick, rates), "reasons": reasons})
    return ticks


def assert_floor_rules(ticks: list[dict]) -> None:
    for tick in ticks:
        assert abs(sum(tick["shares"].values()) - 1) < 1e-9 and min(tick["shares"].values()) >= 0.05 - 1e-12, tick
        assert sum(tick["sent"].values()) >= COHORT * 0.8, tick  # the holdout and nothing else stays out


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def simulated(request, tmp_path_factory, dbt_manifest):
    engine_env = engine_env_for(request, "journey_thompson")
    warehouse = JourneyWarehouse(tmp_path_factory.mktemp("thompson"), cohort(0), engine_env)
    return warehouse, simulate(warehouse, PLANTED)


def test_the_better_variant_takes_over_within_the_stated_ticks(simulated):
    _, ticks = simulated
    pause = [t["shares"]["pause"] for t in ticks]
    # No outcome is known for the first two ticks (a send counts once a run has seen the
    # ledger record it and the signup after it): an even split, from the prior alone.
    assert [round(s, 9) for s in pause[:2]] == [0.5, 0.5], pause
    assert pause[-1] > 0.8, pause
    # ...and the messages follow the shares: most of the last cohort got `pause`.
    last = ticks[-1]["sent"]
    assert last["pause"] > 0.8 * (last["pause"] + last["discount"]) and last["discount"] > 0, ticks[-1]
    assert_floor_rules(ticks)


def test_with_equal_variants_the_shares_keep_the_floor_rules(tmp_path, dbt_manifest):
    """The same ticks with both variants converting alike (DuckDB only: the shares'
    arithmetic is checked on both engines above)."""
    ticks = simulate(JourneyWarehouse(tmp_path, cohort(0)), EQUAL)
    assert_floor_rules(ticks)
    assert all(int(c.split("/")[1]) > 0 for c in ticks[-1]["counts"].values()), ticks[-1]  # outcomes did count


def test_each_decision_says_which_variant_and_why(simulated):
    _, ticks = simulated
    assert ticks[0]["reasons"] and all("Variant " in r and r.endswith("from conversions discount 0/0, pause 0/0.") for r in ticks[0]["reasons"])
    last = ticks[-1]["reasons"]
    counts = ticks[-1]["counts"]
    quoted = f"from conversions discount {counts['discount']}, pause {counts['pause']}."
    assert all(r.startswith("Due:") and r.endswith(quoted) for r in last), (quoted, last[:3])
    assert any("Variant pause at a share of 9" in r and "= floor 5% + the rest by P(best)" in r for r in last), last[:3]
    # The counts are the first cohorts' sends: trials by the tick-0 sends at least.
    assert int(counts["pause"].split("/")[1]) >= ticks[0]["sent"]["pause"], counts


def test_a_sent_message_keeps_its_variant_and_the_tick_its_shares(simulated):
    warehouse, ticks = simulated
    first_cohort = warehouse.query(
        "select variant, count(*) from journeys.journey_decisions where journey = ? and step_id = ? and status = 'sent' "
        "and scheduled_at < ? group by variant", [JOURNEY, STEP, T0 + hours(1)])
    assert dict(first_cohort) == ticks[0]["sent"]
    # Decided again at the same `now`, a tick keeps the shares it was first given.
    warehouse.decide(T0 + days(TICKS - 1))
    again = dict(warehouse.query(
        "select variant, share from journeys.variant_shares where journey = ? and step_id = ? and as_of = ?",
        [JOURNEY, STEP, T0 + days(TICKS - 1)]))
    assert again == ticks[-1]["shares"]
