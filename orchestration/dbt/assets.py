"""Every dbt model, seed and snapshot is a Dagster asset; dbt tests are asset checks.

No `from __future__ import annotations` here: Dagster reads the config type at runtime.
"""

import os
import queue
import shutil
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets
from dagster_dbt.asset_utils import (DAGSTER_DBT_EXCLUDE_METADATA_KEY, DAGSTER_DBT_SELECT_METADATA_KEY,
                                     get_manifest_and_translator_from_dbt_assets, get_subset_selection_for_context)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from orchestration.dbt.project import throughline_dbt_project
from orchestration.dbt.runner import PARTIAL_PARSE, in_process_dbt

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
def dbt_models(context: dg.AssetExecutionContext, config: DbtBuildConfig):
    from orchestration.syncs.lock import warehouse_lock

    # Unit tests check the SQL, not the data: they run in the test suite
    # (tests/test_dbt_unit_tests.py), not on every tick.
    # --quiet: dbt prints only its errors; its results reach Dagster as events all the same.
    manifest, translator, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    args = ["build", "--quiet", "--exclude-resource-type", "unit_test", *selection_args(context, manifest, translator)]
    variables = {"now": config.now} if config.now else None
    run_target = throughline_dbt_project.project_dir / throughline_dbt_project.target_path / f"run-{context.run_id}"
    with warehouse_lock():  # also across processes: a second tick waits instead of failing on the file
        try:
            events = dbt_build_events(context, manifest, translator, args, run_target, variables)
            yield from with_journey_metadata(context, events)
        finally:
            keep_partial_parse(run_target)
            keep_as_last_run(run_target)


def selection_args(context: dg.AssetExecutionContext, manifest: Mapping[str, Any],
                   translator: DagsterDbtTranslator) -> list[str]:
    """dbt's --select/--exclude for the assets this run materializes, as dagster-dbt computes them
    (all of them, the history checks excluded, unless the run is a subset)."""
    args, indirect_selection = get_subset_selection_for_context(
        context=context, manifest=manifest, select=context.op.tags.get(DAGSTER_DBT_SELECT_METADATA_KEY),
        exclude=context.op.tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY), selector=None,
        dagster_dbt_translator=translator, current_dbt_indirect_selection_env=None)
    return args + (["--indirect-selection", indirect_selection] if indirect_selection else [])


_DONE = object()


def dbt_build_events(context: dg.AssetExecutionContext, manifest: Mapping[str, Any], translator: DagsterDbtTranslator,
                     args: list[str], run_target: Path, variables: Mapping[str, Any] | None) -> Iterator[Any]:
    """dbt in this process (orchestration/dbt/runner.py), its results as Dagster events while it
    runs: an Output per model, seed and snapshot, an AssetCheckResult per test, as dagster-dbt
    makes them from the same structured events. dbt runs in a thread of its own so that each
    result reaches Dagster (and the journey metadata) when dbt reports it."""
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["run"] = in_process_dbt().invoke(args, target_path=run_target, variables=variables, on_event=events.put)
        except BaseException as error:  # re-raised in the step's own thread below
            outcome["error"] = error
        finally:
            events.put(_DONE)

    worker = threading.Thread(target=run, name="dbt", daemon=True)
    worker.start()
    while (event := events.get()) is not _DONE:
        message = DbtCoreCliEventMessage(raw_event=event, event_history_metadata={})
        yield from message.to_default_asset_events(manifest=manifest, dagster_dbt_translator=translator,
                                                   context=context, target_path=run_target,
                                                   project=throughline_dbt_project)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    outcome["run"].raise_on_failure()


def keep_partial_parse(run_target: Path) -> None:
    """Make this invocation's parse the one the next tick's process starts from.

    Each tick's dbt has a target folder of its own, seeded with the project's
    target/partial_parse.msgpack. That one is `throughline prepare`'s, made with the profile
    as it was then (another warehouse path, no memory limit...): dbt would then parse the
    whole project again on every tick (~6 s, more on a busy machine). dbt checks the file against
    the project, profile and vars itself, so a stale one only costs a re-parse."""
    fresh = run_target / PARTIAL_PARSE
    if not fresh.exists():
        return
    kept = throughline_dbt_project.project_dir / throughline_dbt_project.target_path / PARTIAL_PARSE
    staged = kept.with_name(f"{PARTIAL_PARSE}.{os.getpid()}")
    shutil.copyfile(fresh, staged)
    os.replace(staged, kept)  # atomic: a dbt starting meanwhile reads the old file or the new one


LAST_RUN = "last_run"


def keep_as_last_run(run_target: Path) -> None:
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
