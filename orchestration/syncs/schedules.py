"""When the loop runs: the whole tick every 5 minutes, and a job and schedule per sync
that declares its own cron (`meta.sync.schedule`), which the tick then leaves out."""

from __future__ import annotations

import dagster as dg

from orchestration.syncs.assets import sync_asset_key
from orchestration.syncs.spec import SyncSpec

TICK_CRON = "*/5 * * * *"

tick_schedule = dg.ScheduleDefinition(
    name="tick_every_5_minutes", cron_schedule=TICK_CRON, job_name="tick",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Load landed files, build every model, run every sync without a schedule of its own.",
)


def sync_jobs_and_schedules(specs: list[SyncSpec]) -> tuple[list, list[dg.ScheduleDefinition]]:
    jobs, schedules = [], []
    for spec in specs:
        if not spec.schedule:
            continue
        job = dg.define_asset_job(f"sync_{spec.name}", selection=dg.AssetSelection.assets(sync_asset_key(spec)),
                                  executor_def=dg.in_process_executor,  # one step: no subprocess for it
                                  description=f"The {spec.name} sync on its own schedule ({spec.schedule}).")
        jobs.append(job)
        schedules.append(dg.ScheduleDefinition(name=f"sync_{spec.name}_schedule", cron_schedule=spec.schedule, job=job,
                                               default_status=dg.DefaultScheduleStatus.RUNNING))
    return jobs, schedules
