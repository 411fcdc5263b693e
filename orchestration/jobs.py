"""Jobs: `tick` is the whole loop (load landed files, build every model, run the syncs);
`build` is the models only (`throughline build`)."""

import dagster as dg

_syncs = dg.AssetSelection.tag("throughline/role", "sync")
_landing = dg.AssetSelection.tag("throughline/role", "landing")
_own_schedule = dg.AssetSelection.tag("throughline/schedule", "own")

tick_job = dg.define_asset_job(
    name="tick",
    selection=dg.AssetSelection.all() - _own_schedule,
    description="One loop of Throughline: load the landing folder, build every dbt model, run every sync "
                "(except those with a schedule of their own).",
)

build_job = dg.define_asset_job(
    name="build",
    selection=dg.AssetSelection.all() - _syncs - _landing,
    description="Build every dbt model from the raw layer; nothing is loaded or sent.",
)
