"""The nightly checks over all history: the dbt tests tagged `history` (every call ever
loaded, re-read through the staging views), which the 5-minute tick leaves out because
their cost grows with the whole history while a tick's should grow with what is new."""

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.dbt.assets import HISTORY_CHECKS
from orchestration.dbt.project import throughline_dbt_project

NIGHTLY_CRON = "0 3 * * *"


@dg.op(pool="warehouse")
def history_checks(context: dg.OpExecutionContext, dbt: DbtCliResource) -> dg.Output[int]:
    """`dbt test` of the history checks; fails the run, naming the tests, if one fails."""
    from orchestration.syncs.lock import warehouse_lock

    with warehouse_lock():
        invocation = dbt.cli(["test", "--select", HISTORY_CHECKS], manifest=throughline_dbt_project.manifest_path,
                             raise_on_error=False)
        invocation.wait()
    # the tests' results only: the project's run hooks (a checkpoint at the run's end) are listed too
    results = [r for r in invocation.get_artifact("run_results.json")["results"] if r["unique_id"].startswith("test.")]
    failed = sorted(r["unique_id"] for r in results if r["status"] not in ("pass", "skipped"))
    if failed or not invocation.is_successful():
        raise dg.Failure(f"{len(failed)} of {len(results)} history checks failed", metadata={"failed": failed})
    context.log.info(f"{len(results)} history checks passed")
    return dg.Output(len(results), metadata={"checks": len(results)})


@dg.job(description="The dbt tests over all history (tag `history`), which ticks leave out; nightly.")
def history_checks_job():
    history_checks()


history_checks_schedule = dg.ScheduleDefinition(
    name="history_checks_nightly", cron_schedule=NIGHTLY_CRON, job=history_checks_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night: the checks over all history.",
)
