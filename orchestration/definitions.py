"""The single Dagster `Definitions` of Throughline, merged from small per-domain modules."""

import dagster as dg

from orchestration.dbt.assets import dbt_models
from orchestration.jobs import tick_job
from orchestration.resources import dbt_resource
from orchestration.settings import warehouse_path

warehouse_path()  # pins THROUGHLINE_WAREHOUSE to an absolute path for the dbt subprocess

defs = dg.Definitions(
    assets=[dbt_models],
    jobs=[tick_job],
    resources={"dbt": dbt_resource()},
)
