"""Syncs: audiences, profiles, events and journey messages from dbt sync models to
destinations, with diffs, a delivery ledger and Dagster assets, schedules and checks.
docs/syncs.md explains the declaration; spec.py validates it; runner.py runs one sync."""

from __future__ import annotations

import dagster as dg


def sync_definitions() -> dg.Definitions:
    """The sync assets (one per declared sync), the landing loader and sensor, and the
    schedules. A bad sync declaration raises here, naming the model, field and fix."""
    from orchestration.syncs.assets import SyncDestinations, build_sync_assets, load_sync_specs
    from orchestration.syncs.landing import landing_files, landing_sensor
    from orchestration.syncs.schedules import sync_jobs_and_schedules, tick_schedule

    specs = load_sync_specs()
    jobs, schedules = sync_jobs_and_schedules(specs)
    return dg.Definitions(
        assets=[landing_files, *build_sync_assets(specs)],
        jobs=jobs,
        schedules=[tick_schedule, *schedules],
        sensors=[landing_sensor],
        resources={"sync_destinations": SyncDestinations()},
    )
