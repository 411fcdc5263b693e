"""Compiles journeys (YAML) into dbt models (SQL).

`compile_project()` reads dbt_project/journeys/*.yml, the policies and the templates,
validates them (spec.py) and writes one model per journey plus the models that gather
them into dbt_project/models/journeys/generated/. `throughline prepare` runs it before
`dbt parse`, so analysts never write SQL for a journey - and can read what it does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from orchestration.journeys.policies import Policies, for_journey, load_policies
from orchestration.journeys.spec import Catalog, EventRule, Journey, JourneyError, Step, load_event_catalog, load_journeys, load_templates
from orchestration.settings import DBT_PROJECT_DIR

JOURNEYS_DIR = DBT_PROJECT_DIR / "journeys"
TEMPLATES_DIR = DBT_PROJECT_DIR / "templates"
GENERATED_DIR = DBT_PROJECT_DIR / "models" / "journeys" / "generated"
EVENT_CATALOG = DBT_PROJECT_DIR / "seeds" / "event_catalog.csv"
SEGMENTS_DIR = DBT_PROJECT_DIR / "models" / "segments"
RFM_SEGMENTS = DBT_PROJECT_DIR / "seeds" / "rfm_segments.csv"

# Helpers an analyst may use inside SQL conditions.
PROP = re.compile(r"prop\(\s*'([A-Za-z0-9_.]+)'\s*\)")
CONTEXT = re.compile(r"context\(\s*'([A-Za-z0-9_.]+)'\s*\)")
HAPPENED = re.compile(r"happened\(\s*'([A-Za-z0-9_]+)'\s*\)")
DAYS_AGO = re.compile(r"days_ago\(\s*(\d+)\s*\)")
DEFINITION_HASH_SLOT = "__definition_hash__"

_sql = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    block_start_string="[%", block_end_string="%]",
    variable_start_string="[[", variable_end_string="]]",
    comment_start_string="[#", comment_end_string="#]",
    lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def event_filter(sql: str, properties_column: str) -> str:
    """`prop('x')` in a filter reads property x of the event being filtered."""
    return PROP.sub(lambda m: "{{ json_text('" + properties_column + "', '" + m.group(1) + "') }}", sql)


def condition(sql: str, instance: str, until: str, events: set[str], journey: Journey, field: str, catalog: Catalog) -> str:
    """A condition over the customer's profile (dim_customers columns by name), the journey
    context (`context('cart_id')`, from the entry event), what happened since entry
    (`happened('integration_connected')`, up to `until`) and time (`days_ago(7)`: seven days
    before `until`, the instant the condition is judged at - entry, or the step - so a
    decision once made reads the same at any later `now`). False when the profile is missing."""
    def happened(match: re.Match) -> str:
        name = match.group(1)
        if name not in catalog.events:
            raise JourneyError(journey.name, field, f"happened('{name}') names an unknown event", "use an event from dbt_project/seeds/event_catalog.csv")
        events.add(name)
        return (f"exists (select 1 from events as happened where happened.customer_id = {instance}.customer_id"
                f" and happened.event_name = {_quote(name)} and happened.occurred_at >= {instance}.entry_at"
                f" and happened.occurred_at <= {until})")

    body = HAPPENED.sub(happened, sql)
    body = DAYS_AGO.sub(lambda m: f"({until} - {{{{ interval_seconds({int(m.group(1)) * 86400}) }}}})", body)
    body = CONTEXT.sub(lambda m: "{{ json_text('" + instance + ".entry_properties', '" + m.group(1) + "') }}", body)
    return (f"coalesce((select ({body}) from {{{{ ref('dim_customers') }}}} as profile"
            f" where profile.customer_id = {instance}.customer_id), false)")


@dataclass
class _ExitRule:
    cte: str
    code: str
    comment: str
    source: str
    join: str
    time: str


def _exit_rules(journey: Journey) -> list[_ExitRule]:
    rules = []
    for kind, label, group in (("goal", "goal", journey.goals), ("exit", "exit_event", journey.exits)):
        for i, rule in enumerate(group, start=1):
            join = [
                "exit_event.customer_id = qualified.customer_id",
                f"exit_event.event_name = {_quote(rule.event)}",
                "exit_event.occurred_at > qualified.entry_at",
            ]
            if rule.where:
                join.append(f"({event_filter(rule.where, 'exit_event.properties')})")
            join += [
                "{{ json_text('exit_event.properties', '" + key + "') }} = {{ json_text('qualified.entry_properties', '" + key + "') }}"
                for key in rule.match
            ]
            comment = f"{label}: {rule.event}" + (f" with the same {', '.join(rule.match)}" if rule.match else "")
            rules.append(_ExitRule(f"{kind}_{i}", f"{label}:{rule.event}", comment, "events as exit_event", "\n        and ".join(join), "exit_event.occurred_at"))
    if journey.segment_left:
        rules.append(_ExitRule(
            "left_segment", f"left_segment:{journey.segment_left}", f"left the segment {journey.segment_left}",
            "{{ ref('segment_changes') }} as segment_change",
            "\n        and ".join([
                "segment_change.customer_id = qualified.customer_id",
                f"segment_change.segment = {_quote(journey.segment_left)}",
                "segment_change.change_type = 'exited'",
                "segment_change.changed_at > qualified.entry_at",
                "segment_change.changed_at <= {{ throughline_now() }}",
            ]),
            "segment_change.changed_at",
        ))
    return rules


def _reach(alias: str, channel: str, policies: Policies) -> str:
    consent = "" if not policies.consent_required.get(channel, False) else f" and coalesce({alias}.has_consent, false)"
    return f"(coalesce({alias}.has_address, false) and {alias}.blocked_by is null{consent})"


def _timeline(journey: Journey, policies: Policies, catalog: Catalog, events: set[str]) -> list[dict]:
    steps, prev = [], "entered_at"
    for index, step in enumerate(journey.steps, start=1):
        item = {"id": step.id, "kind": step.kind, "index": index, "prev": prev,
                "on_path": " and ".join(f"t.{c}" for c in step.conditions), "wait": step.wait,
                "timeout": step.timeout, "until": step.until, "send": step.send, "fallback": step.fallback,
                "offer": step.offer, "condition_sql": None, "condition_comment": (step.condition or "").replace("\n", " ")}
        if step.kind == "wait_until":
            events.add(step.until.event)
            parts = [f"({event_filter(step.until.where, 'e.properties')})"] if step.until.where else []
            parts += ["{{ json_text('e.properties', '" + k + "') }} = {{ json_text('t.entry_properties', '" + k + "') }}" for k in step.until.match]
            item["until_sql"] = " and ".join(parts)
        if step.kind in ("branch", "send") and step.condition:
            item["condition_sql"] = condition(step.condition, "t", f"t.{prev}", events, journey, f"steps.{step.id}", catalog)
        if step.kind == "send":
            channels = [step.send.channel] + ([step.fallback.channel] if step.fallback else [])
            item["reach_primary"] = _reach("primary_channel", step.send.channel, policies)
            item["reach_fallback"] = _reach("fallback_channel", step.fallback.channel, policies) if step.fallback else None
            item["quiet_channels"] = ", ".join(_quote(c) for c in channels if c in policies.quiet_channels)
            item.update(_variant_sql(journey, step))
        steps.append(item)
        if step.kind != "branch":
            prev = f"at_{step.id}"
    return steps


def _variant_sql(journey: Journey, step: Step) -> dict:
    none = {"variant_sql": "cast(null as {{ dbt.type_string() }})", "variant_note_sql": "cast(null as {{ dbt.type_string() }})",
            "variant_joins": "", "shares_cte": None, "variant_note": ""}
    if not step.variants:
        return {**none, "template_sql": _quote(step.send.template)}
    templates = " ".join(f"when {_quote(v.name)} then {_quote(v.template)}" for v in step.variants)
    template_sql = f"case t.variant_{step.id} {templates} end"
    if step.strategy == "weights":
        return {**none, "variant_sql": _weighted_case(journey, step, [(v.name, v.weight) for v in step.variants]), "template_sql": template_sql}
    return {**_thompson_sql(journey, step), "template_sql": template_sql}


def _bucket(journey: Journey, step: Step, buckets: int) -> str:
    """The customer's stable bucket for this step: the same on every run and engine."""
    return "{{ stable_bucket(\"'" + f"{journey.name}:{step.id}:" + "' || t.customer_id\", " + str(buckets) + ") }}"


def _weighted_case(journey: Journey, step: Step, weights: list[tuple[str, int]]) -> str:
    """The variant whose slice of the buckets holds the customer's."""
    bucket = _bucket(journey, step, sum(weight for _, weight in weights))
    cases, upper = [], 0
    for name, weight in weights:
        upper += weight
        cases.append(f"when {bucket} < {upper} then {_quote(name)}")
    return "case " + " ".join(cases) + " end"


def _thompson_sql(journey: Journey, step: Step) -> dict:
    """A Thompson-sampled step: the customer's stable bucket against this tick's shares
    (journeys.variant_shares); a message the ledger has seen keeps the variant it went
    out with; the holdout gets none, so it never counts for a variant."""
    sid = step.id
    bucket = _bucket(journey, step, 10000)
    evidence = " || ', ' || ".join(
        f"{_quote(v.name + ' ')} || cast(max(case when variant = {_quote(v.name)} then successes end) as {{{{ dbt.type_string() }}}})"
        f" || '/' || cast(max(case when variant = {_quote(v.name)} then trials end) as {{{{ dbt.type_string() }}}})"
        for v in step.variants
    )
    percent = "cast(cast(round({} * 100) as {{{{ dbt.type_int() }}}}) as {{{{ dbt.type_string() }}}}) || '%'"
    shares_cte = f"""shares_{sid} as (
    -- {sid}: the shares of the latest tick recorded by now (variant_shares runs first,
    -- for this very `now`), each variant a slice of the 10,000 buckets
    select variant, successes, trials, share, p_best, floor_share, lower_bucket,
        case when variant_order = max(variant_order) over () then 10000 else upper_bucket end as upper_bucket
    from (
        select shares.*, coalesce(lag(upper_bucket) over (order by variant_order), 0) as lower_bucket
        from (
            select shares.*,
                cast(round(sum(share) over (order by variant_order rows between unbounded preceding and current row) * 10000) as {{{{ dbt.type_int() }}}}) as upper_bucket
            from {{{{ ref('variant_shares') }}}} as shares
            where journey = {_quote(journey.name)} and step_id = {_quote(sid)}
              and as_of = (
                  select max(as_of) from {{{{ ref('variant_shares') }}}}
                  where journey = {_quote(journey.name)} and step_id = {_quote(sid)} and as_of <= {{{{ now }}}}
              )
        ) as shares
    ) as sliced
),

evidence_{sid} as (
    select {evidence} as converted
    from shares_{sid}
),
"""
    equal_split = _weighted_case(journey, step, [(v.name, 1) for v in step.variants])
    kept = ("{% if is_incremental() %}\n            when ledger.status is not null and previous_" + sid + ".variant is not null"
            " then previous_" + sid + ".variant{% endif %}")
    variant_sql = (f"case\n            when t.arm = 'control' then null{kept}\n"
                   f"            else coalesce(share_{sid}.variant, {equal_split})\n        end")
    note = (f"case\n            when t.arm = 'control' or ledger.status is not null then null\n"
            f"            when share_{sid}.variant is null then 'Variant ' || {equal_split} || ': an equal split, no shares recorded yet.'\n"
            f"            else 'Variant ' || share_{sid}.variant || ' at a share of ' || {percent.format(f'share_{sid}.share')}"
            f" || ' = floor ' || {percent.format(f'share_{sid}.floor_share')} || ' + the rest by P(best) ' || {percent.format(f'share_{sid}.p_best')}"
            f" || ', from conversions ' || (select converted from evidence_{sid}) || '.'\n        end")
    joins = (f"\n    left join shares_{sid} as share_{sid}\n        on {bucket} >= share_{sid}.lower_bucket and {bucket} < share_{sid}.upper_bucket"
             "{% if is_incremental() %}\n    left join (select action_id, variant from {{ this }} where row_kind = 'action' and step_id = "
             + _quote(sid) + ") as previous_" + sid + "\n        on previous_" + sid + ".action_id = t.action_" + sid + "{% endif %}")
    return {"variant_sql": variant_sql, "variant_note_sql": note, "variant_joins": joins, "shares_cte": shares_cte,
            "variant_note": f" || coalesce(' ' || t.variant_note_{sid}, '')"}


def _recent_lookback_seconds(journey: Journey) -> int:
    """How far before the last run an incremental run reads events to find new entries:
    an entry counted within a window, or an inactivity period, reaches back that far."""
    if journey.entry.kind == "event" and journey.entry.count > 1:
        return journey.entry.within.seconds
    if journey.entry.kind == "inactivity":
        return journey.entry.inactive_for.seconds
    return 0


def render_journey(journey: Journey, policies: Policies, catalog: Catalog) -> str:
    events = set(journey.events_used())
    entry_where = event_filter(journey.entry.event.where, "properties") if journey.entry.event and journey.entry.event.where else None
    timeline = _timeline(journey, policies, catalog, events)

    entry_profile_sql = None
    if journey.entry.profile:
        # At entry, happened() looks back over everything before the entry instant.
        entry_profile_sql = condition(journey.entry.profile, "entries", "entries.entry_at", events, journey,
                                      "entry.profile", catalog).replace("happened.occurred_at >= entries.entry_at and ", "")
    max_duration = sum((s.wait or s.timeout).seconds for s in journey.steps if s.kind in ("wait", "wait_until")) or 1
    last_step = [s for s in journey.steps if s.kind != "branch"][-1]
    sql = _sql.get_template("journey_model.sql.j2").render(
        definition_hash=DEFINITION_HASH_SLOT,
        j=journey,
        policies={"default_timezone": policies.default_timezone, "quiet_hours": policies.quiet_hours,
                  "collision_window_seconds": policies.collision_window_seconds,
                  "max_delay_seconds": policies.max_delay_seconds},
        events_used=", ".join(_quote(e) for e in sorted(events)),
        entry_where=entry_where,
        entry_profile_sql=entry_profile_sql,
        exit_rules=_exit_rules(journey),
        max_duration_seconds=max_duration,
        timeline=timeline,
        sends=[s for s in timeline if s["kind"] == "send"],
        timeouts=[s for s in timeline if s["kind"] == "wait_until" and journey.steps[s["index"] - 1].on_timeout == "exit"],
        last_step_id=last_step.id,
        uses_segments=journey.entry.kind == "segment" or bool(journey.segment_left),
        recent_lookback_seconds=_recent_lookback_seconds(journey),
    )
    # The model's rows remember the definition they were decided under: a run under a
    # changed definition re-decides every customer instead of only the changed ones.
    definition_hash = hashlib.sha256(sql.encode()).hexdigest()[:16]
    return sql.replace(DEFINITION_HASH_SLOT, definition_hash)


# The columns every journey model has (journey_model.sql.j2), for a project with none yet.
CANDIDATE_COLUMNS = {
    "journey": "text", "journey_priority": "int", "collision_window_seconds": "int", "instance_id": "text",
    "instance_number": "int", "customer_id": "text", "entered_at": "timestamp", "arm": "text", "state": "text",
    "exited_at": "timestamp", "exit_reason": "text", "completed_at": "timestamp", "entry_properties": "text",
    "row_kind": "text", "step_id": "text", "step_index": "int", "action_id": "text", "channel": "text",
    "destination": "text", "template": "text", "variant": "text", "offer": "text", "scheduled_at": "timestamp",
    "release_at": "timestamp", "ledger_status": "text", "status": "text", "reason_code": "text", "reason": "text",
    "wakes_at": "timestamp", "as_of": "timestamp", "computed_at": "timestamp", "events_loaded_through": "timestamp",
    "definition_hash": "text",
}
SQL_TYPES = {"text": "{{ dbt.type_string() }}", "int": "{{ dbt.type_int() }}", "timestamp": "{{ dbt.type_timestamp() }}"}


def render_candidates(journeys: list[Journey]) -> str:
    unions = "\n\nunion all\n\n".join(f"select * from {{{{ ref('{j.model_name}') }}}}" for j in journeys) or (
        "select " + ", ".join(f"cast(null as {SQL_TYPES[t]}) as {c}" for c, t in CANDIDATE_COLUMNS.items()) + " where 1 = 0"
    )
    return (
        "{{ config(materialized='view') }}\n\n"
        "-- Every journey's instances and reached actions in one relation.\n"
        "-- Generated by `throughline prepare` from dbt_project/journeys/: edit the YAML, not this file.\n"
        + unions + "\n"
    )


def render_caps(policies: Policies) -> str:
    rows = "\n\nunion all\n\n".join(
        f"select {_quote(cap.channel)} as channel, {cap.max_messages} as max_messages, {cap.window_seconds} as window_seconds"
        for cap in policies.frequency_caps
    ) or "select cast(null as {{ dbt.type_string() }}) as channel, 0 as max_messages, 0 as window_seconds where 1 = 0"
    return (
        "{{ config(materialized='view') }}\n\n"
        "-- The frequency caps of dbt_project/journeys/policies.yml, generated by `throughline prepare`.\n"
        + rows + "\n"
    )


def render_journey_catalog(journeys: list[Journey]) -> str:
    rows = "\n\nunion all\n\n".join(
        f"select {_quote(j.name)} as journey, {j.priority} as journey_priority, {_quote(group)} as collision_group"
        for j in journeys for group in j.collision_groups
    ) or "select cast(null as {{ dbt.type_string() }}) as journey, 0 as journey_priority, cast(null as {{ dbt.type_string() }}) as collision_group where 1 = 0"
    return (
        "{{ config(materialized='view') }}\n\n"
        "-- Each journey's priority and collision groups, generated by `throughline prepare`.\n"
        + rows + "\n"
    )


def render_variant_shares(journeys: list[Journey]) -> str:
    """journeys.variant_shares: per tick (`as_of`), the share of each variant of every
    Thompson-sampled step, from the outcomes its journey had decided by its last run."""
    counts = []
    for journey in journeys:
        for step in journey.send_steps():
            if step.strategy != "thompson":
                continue
            variants = "\n        union all\n        ".join(
                f"select {_quote(v.name)} as variant, {i} as variant_order" for i, v in enumerate(step.variants, start=1))
            counts.append(f"""    -- {journey.name}, step {step.id}: floor {step.floor:g}
    select
        {_quote(journey.name)} as journey,
        {_quote(step.id)} as step_id,
        variants.variant,
        variants.variant_order,
        {step.floor!r} as floor_share,
        coalesce(outcomes.successes, 0) as successes,
        coalesce(outcomes.trials, 0) as trials
    from (
        {variants}
    ) as variants
    left join ({{{{ thompson_outcomes({_quote(journey.model_name)}, {_quote(step.id)}) }}}}) as outcomes
        on outcomes.variant = variants.variant""")
    if not counts:
        counts.append("""    -- no journey has a step with strategy: thompson
    select
        cast(null as {{ dbt.type_string() }}) as journey,
        cast(null as {{ dbt.type_string() }}) as step_id,
        cast(null as {{ dbt.type_string() }}) as variant,
        0 as variant_order,
        0.0 as floor_share,
        0 as successes,
        0 as trials
    where 1 = 0""")
    return (
        "{{ config(materialized='incremental', full_refresh=false, on_schema_change='append_new_columns', tags=['journey'],\n"
        "          meta={'dagster_group': 'journeys'}) }}\n"
        "{%- set now = throughline_now() %}\n\n"
        "-- The shares of the Thompson-sampled variants at each tick, generated by `throughline prepare`\n"
        "-- from dbt_project/journeys/ (docs/journeys.md, \"Adaptive variants\"). A record, like the\n"
        "-- ledger: a tick's shares are computed once, the first time a run has that `now`, and\n"
        "-- --full-refresh keeps them, so a tick decided again (or explained) uses the same shares.\n"
        "with counts as (\n"
        + "\n\n    union all\n\n".join(counts)
        + "\n),\n\nshares as (\n    {{ thompson_shares('counts') }}\n)\n\n"
        "select\n    shares.*,\n    {{ now }} as as_of,\n    {{ run_started_timestamp() }} as computed_at\nfrom shares\n"
        "{% if is_incremental() %}\nwhere not exists (select 1 from {{ this }} as recorded where recorded.as_of = {{ now }})\n{% endif %}\n"
    )


def load_catalog() -> Catalog:
    segments = {p.stem for p in SEGMENTS_DIR.glob("*.sql")}
    if RFM_SEGMENTS.exists():
        import csv

        with open(RFM_SEGMENTS, newline="") as f:
            segments |= {row["segment_key"] for row in csv.DictReader(f)}
    return Catalog(events=load_event_catalog(EVENT_CATALOG), segments=frozenset(segments), templates=load_templates(TEMPLATES_DIR))


def load_project(journeys_dir: Path = JOURNEYS_DIR) -> tuple[list[Journey], Policies, Catalog]:
    """Read and validate every journey; raises JourneyError on the first bad declaration."""
    catalog = load_catalog()
    project_policies = load_policies(journeys_dir / "policies.yml")
    journeys = load_journeys(journeys_dir, catalog)
    for journey in journeys:
        for_journey(project_policies, journey.name, journey.policies)  # validates overrides
    return journeys, project_policies, catalog


def compile_project(out_dir: Path = GENERATED_DIR, journeys_dir: Path = JOURNEYS_DIR) -> list[Path]:
    journeys, project_policies, catalog = load_project(journeys_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {f"{j.model_name}.sql": render_journey(j, for_journey(project_policies, j.name, j.policies), catalog) for j in journeys}
    files["journey_candidates.sql"] = render_candidates(journeys)
    files["journey_frequency_caps.sql"] = render_caps(project_policies)
    files["journey_collision_groups.sql"] = render_journey_catalog(journeys)
    files["variant_shares.sql"] = render_variant_shares(journeys)
    for stale in out_dir.glob("*.sql"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, sql in files.items():
        path = out_dir / name
        if not path.exists() or path.read_text() != sql:  # unchanged files keep dbt's partial parse
            path.write_text(sql)
        written.append(path)
    return written
