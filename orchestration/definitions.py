"""The single Dagster `Definitions` of Throughline, merged from small per-domain modules."""

import dagster as dg

from orchestration.checks import history_checks_job, history_checks_schedule
from orchestration.dbt.assets import dbt_models
from orchestration.identity.assets import phone_numbers
from orchestration.jobs import build_job, tick_job
from orchestration.journeys.compiler import load_project
from orchestration.resources import dbt_resource
from orchestration.settings import warehouse_path
from orchestration.syncs import sync_definitions

warehouse_path()  # pins THROUGHLINE_WAREHOUSE to an absolute path for the dbt subprocess
load_project()  # a bad journey declaration fails here, naming the journey, the field and the fix

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=[phone_numbers, dbt_models],
        jobs=[tick_job, build_job, history_checks_job],
        schedules=[history_checks_schedule],
        resources={"dbt": dbt_resource()},
    ),
    sync_definitions(),  # a bad sync declaration fails here, naming the model, the field and the fix
)
