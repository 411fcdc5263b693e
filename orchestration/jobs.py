"""Jobs: `tick` builds everything; later issues add syncs to the same loop."""

import dagster as dg

tick_job = dg.define_asset_job(
    name="tick",
    selection=dg.AssetSelection.all(),
    description="One loop of Throughline: build every dbt model from the raw layer.",
)
