"""Every dbt model, seed and snapshot is a Dagster asset; dbt tests are asset checks.

No `from __future__ import annotations` here: Dagster reads the config type at runtime.
"""

import json
import os
import shutil
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt.project import throughline_dbt_project

# dbt tests over every call ever loaded (tag `history`, dbt_project.yml): not per tick.
HISTORY_CHECKS = "tag:history"


class ThroughlineTranslator(DagsterDbtTranslator):
    """Asset keys and groups from the dbt project's own structure, never from model names.

    A model's group is `meta.dagster_group` if set, else its top folder under models/
    (staging, identity, ...). A source's key is its warehouse location (raw/events), so
    the graph reads the same as the warehouse.
    """

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=dg.AssetKey([props["schema"], props["name"]]), group_name=props["schema"])
        group = props.get("meta", {}).get("dagster_group") or (props["fqn"][1] if len(props["fqn"]) > 2 else "default")
        return spec.replace_attributes(group_name=group)


class DbtBuildConfig(dg.Config):
    now: str | None = None
    """Decide as of this instant (ISO 8601, UTC) instead of the current time."""


@dbt_assets(
    manifest=throughline_dbt_project.manifest_path,
    project=throughline_dbt_project,
    dagster_dbt_translator=ThroughlineTranslator(),
    exclude=HISTORY_CHECKS,  # nightly, in orchestration/checks.py
    pool="warehouse",  # one writer at a time on the warehouse
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    from orchestration.syncs.lock import warehouse_lock

    # Unit tests check the SQL, not the data: they run in the test suite
    # (tests/test_dbt_unit_tests.py), not on every tick.
    args = ["build", "--exclude-resource-type", "unit_test"]
    if config.now:
        args += ["--vars", json.dumps({"now": config.now})]
    with warehouse_lock():  # also across processes: a second tick waits instead of failing on the file
        invocation = dbt.cli(args, context=context)
        try:
            yield from with_journey_metadata(context, invocation.stream())
        finally:
            keep_partial_parse(invocation.target_path)
            keep_as_last_run(invocation.target_path)


PARTIAL_PARSE = "partial_parse.msgpack"


def keep_partial_parse(run_target: Any) -> None:
    """Make this invocation's parse the one the next starts from.

    dagster-dbt gives each invocation a target folder of its own, seeded with the project's
    target/partial_parse.msgpack. That one is `throughline prepare`'s, made with the profile
    as it was then (another warehouse path, no memory limit...): dbt then re-parses the
    whole project on every tick (~6 s, more on a busy machine). dbt checks the file against
    the project, profile and vars itself, so a stale one only costs a re-parse."""
    fresh = run_target / PARTIAL_PARSE
    if not fresh.exists():
        return
    kept = throughline_dbt_project.project_dir / throughline_dbt_project.target_path / PARTIAL_PARSE
    staged = kept.with_name(f"{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(fresh, staged)
    os.replace(staged, kept)  # atomic: a dbt starting meanwhile reads the old file or the new one


LAST_RUN = "last_run"


def keep_as_last_run(run_target: Any) -> None:
    """Keep the invocation's artifacts (run_results.json, compiled SQL, dbt.log) as
    target/last_run, replacing the previous run's: one folder per tick (~10 MB) would
    otherwise pile up, a few GB a day on a 5-minute schedule. Called under the warehouse
    lock, so no other invocation is moving it meanwhile."""
    if not run_target.exists():
        return
    last = throughline_dbt_project.project_dir / throughline_dbt_project.target_path / LAST_RUN
    shutil.rmtree(last, ignore_errors=True)
    os.replace(run_target, last)


# What a journey's metadata reads (funnel, lift, canvas): all built in this run, or none is added.
JOURNEY_ANALYTICS = {dg.AssetKey(["analytics", name]) for name in
                     ("journey_funnel", "journey_lift", "journey_step_funnel", "journey_suppression_reasons")}


def with_journey_metadata(context: dg.AssetExecutionContext, events):
    """Pass dbt's events through, adding each journey's funnel, lift and canvas to its model's
    materialization. Those figures are analytics models downstream of the journeys, so
    from the first journey output on, events are held until the build is over and then
    released in the order dbt sent them (Dagster needs a multi-asset's outputs in
    topological order). When this run did not build the analytics models (a partial
    selection) the outputs go out as they came: stale figures would be worse than none."""
    from orchestration.report.metadata import journey_metadata
    from orchestration.warehouse import connect

    held, built = [], set()
    try:
        for event in events:
            key = context.asset_key_for_output(event.output_name) if isinstance(event, dg.Output) else None
            built.add(key)
            journey = key.path[-1].removeprefix("journey__") if key and key.path[-1].startswith("journey__") else None
            if journey or held:
                held.append((journey, event))
            else:
                yield event
    except Exception:
        yield from (event for _, event in held)
        raise
    figures = {}
    if held and JOURNEY_ANALYTICS <= built:
        # connect(): the warehouse THROUGHLINE_TARGET selects (DuckDB file or PostgreSQL).
        with connect(read_only=True) as con:
            figures = journey_metadata(con)
    for journey, event in held:
        yield event.with_metadata({**event.metadata, **figures.get(journey, {})}) if journey else event
