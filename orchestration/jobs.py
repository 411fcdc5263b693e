"""Jobs: `tick` is the whole loop (load landed files, build every model, run the syncs);
`build` is the models only (`throughline build`)."""

import dagster as dg

_syncs = dg.AssetSelection.tag("throughline/role", "sync")
_landing = dg.AssetSelection.tag("throughline/role", "landing")
_own_schedule = dg.AssetSelection.tag("throughline/schedule", "own")

# One process for the whole run: the steps run one at a time anyway (the "warehouse"
# pool), and a subprocess per step cost 3-4 s to start and load the code, each. Steps
# still run in dependency order, claim the pool, and a failed step skips only what
# depends on it.
tick_job = dg.define_asset_job(
    name="tick",
    selection=dg.AssetSelection.all() - _own_schedule,
    executor_def=dg.in_process_executor,
    description="One loop of Throughline: load the landing folder, build every dbt model, run every sync "
                "(except those with a schedule of their own).",
)

build_job = dg.define_asset_job(
    name="build",
    selection=dg.AssetSelection.all() - _syncs - _landing,
    executor_def=dg.in_process_executor,
    description="Build every dbt model from the raw layer; nothing is loaded or sent.",
)
