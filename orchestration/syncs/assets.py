"""One Dagster asset per sync, generated from the dbt manifest.

Each sync asset depends on its dbt sync model, is grouped by destination, runs in the
`warehouse` pool (and under the warehouse lock), and returns its counts as
`MaterializeResult` metadata with three checks evaluated in the same step: the reject
rate, the audience shrink guard (audience syncs) and unresolved deliveries (message
syncs). Declaring a sync in dbt is all it takes for it to appear here.
"""

from typing import Any

import dagster as dg

from connectors import Destination
from orchestration.dbt.project import throughline_dbt_project
from orchestration.syncs.runner import RunOptions, SyncIncomplete, SyncRefused, SyncReport, default_destination, run_sync
from orchestration.syncs.spec import SyncSpec

SYNC_TAG = "throughline/role"  # "sync" on every sync asset, "landing" on the loader
OWN_SCHEDULE_TAG = "throughline/schedule"  # "own" on syncs with their own cron: the tick leaves them out
# Message syncs go first once the models are built: a journey's message is time-sensitive,
# an audience is not. Dagster orders the ready steps (and the pool's waiting claims) by it.
MESSAGE_PRIORITY = {"dagster/priority": "10"}


class SyncDestinations(dg.ConfigurableResource):
    """Builds a sync's destination from the THROUGHLINE_<DESTINATION>_* environment
    variables (each connector's from_env): credentials are read at run time from the
    environment, never from run config, and never appear in metadata or logs."""

    def open(self, spec: SyncSpec) -> Destination:
        return default_destination(spec)


class SyncRunConfig(dg.Config):
    full_resync: bool = False
    """Resend every member and rebuild the state from the destination's answers."""
    cleanup: bool = False
    """Remove every member Throughline added (mirror cleanup, e.g. before retiring a sync)."""
    confirm_shrink: bool = False
    """Apply a run the shrink guard refused, after checking the drop is real."""
    now: str | None = None
    """The decision clock for sent_at (ISO 8601, UTC); the current time by default."""


def sync_asset_key(spec: SyncSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.destination, spec.name])


def sync_op_name(spec: SyncSpec) -> str:
    return f"{spec.destination}__{spec.name}"


def _checks(spec: SyncSpec, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    checks = [dg.AssetCheckSpec("reject_rate", asset=key, description=f"At most {spec.max_reject_percent:g}% of the rows sent are refused.")]
    if spec.operation == "messages":
        checks.append(dg.AssetCheckSpec("unresolved_deliveries", asset=key,
                                        description="No action is left unknown or pending: each needs a look at the destination."))
    else:
        checks.append(dg.AssetCheckSpec("audience_shrink_guard", asset=key,
                                        description=f"The audience does not shrink by more than {spec.max_shrink_percent:g}% in one run unless confirmed."))
    return checks


def report_metadata(report: SyncReport) -> dict[str, Any]:
    rows = [f"| {r['key']} | {r['code'] or ''} | {r['reason']} |" for r in report.rejected_sample]
    return {
        **report.tally(),
        "kind": report.kind,
        "status": report.status,
        "duration_seconds": report.duration_seconds,
        "sync_run_id": report.run_id,
        "rejected_sample": dg.MetadataValue.md("| key | code | reason |\n|---|---|---|\n" + "\n".join(rows) if rows else "none"),
    }


def _reject_rate(spec: SyncSpec, report: SyncReport) -> dg.AssetCheckResult:
    counts = report.tally()
    offered = sum(counts[n] for n in ("added", "removed", "changed", "sent", "rejected", "unknown"))
    rate = 100.0 * counts["rejected"] / offered if offered else 0.0
    return dg.AssetCheckResult(
        check_name="reject_rate", passed=rate <= spec.max_reject_percent, severity=dg.AssetCheckSeverity.WARN,
        metadata={"reject_percent": round(rate, 2), "rejected": counts["rejected"], "threshold_percent": spec.max_reject_percent},
    )


def build_sync_asset(spec: SyncSpec, model_key: dg.AssetKey) -> dg.AssetsDefinition:
    key = sync_asset_key(spec)
    tags = {SYNC_TAG: "sync", **({OWN_SCHEDULE_TAG: "own"} if spec.schedule else {})}

    @dg.asset(
        key=key,
        name=None,
        deps=[model_key],
        group_name=spec.destination,
        kinds={"python"},
        tags=tags,
        pool="warehouse",  # never two at once with dbt or another sync: one writer on the warehouse
        check_specs=_checks(spec, key),
        description=(spec.description or f"{spec.operation} from {spec.relation} to {spec.destination} ({spec.mode})."),
        metadata={"sync": dg.MetadataValue.json(spec.summary())},
        op_tags={"throughline/sync": spec.name, **(MESSAGE_PRIORITY if spec.operation == "messages" else {})},
    )
    def _sync(context: dg.AssetExecutionContext, config: SyncRunConfig, sync_destinations: SyncDestinations):
        from datetime import datetime

        now = datetime.fromisoformat(config.now.replace("Z", "")) if config.now else None
        options = RunOptions(full_resync=config.full_resync, cleanup=config.cleanup, confirm_shrink=config.confirm_shrink, now=now)
        try:
            report = run_sync(spec, options, destination_factory=sync_destinations.open)
        except SyncRefused as refused:
            yield dg.AssetCheckResult(check_name="audience_shrink_guard", passed=False, severity=dg.AssetCheckSeverity.ERROR,
                                      metadata={"refused": str(refused)})
            raise dg.Failure(description=str(refused), metadata=report_metadata(refused.report) if refused.report else None,
                             allow_retries=False) from None
        except SyncIncomplete as incomplete:
            raise dg.Failure(description=str(incomplete), metadata=report_metadata(incomplete.report)) from None
        context.log.info(f"{spec.name}: " + ", ".join(f"{k} {v}" for k, v in report.tally().items() if v))
        checks = [_reject_rate(spec, report)]
        if spec.operation == "messages":
            unresolved = report.plan.get("unresolved", {})
            checks.append(dg.AssetCheckResult(
                check_name="unresolved_deliveries", passed=not any(unresolved.values()), severity=dg.AssetCheckSeverity.WARN,
                metadata={**{k: int(v) for k, v in unresolved.items()},
                          "how_to_resolve": "unknown: check the destination's logs for these action ids (raw.delivery_ledger)"},
            ))
        else:
            checks.append(dg.AssetCheckResult(check_name="audience_shrink_guard", passed=True,
                                              metadata={"removed": report.counts["removed"], "threshold_percent": spec.max_shrink_percent}))
        yield dg.MaterializeResult(metadata=report_metadata(report), check_results=checks)

    return _sync


def load_sync_specs() -> list[SyncSpec]:
    """The syncs declared in the parsed manifest (built by `throughline prepare`)."""
    import json

    from orchestration.syncs.spec import load_syncs

    manifest = json.loads(throughline_dbt_project.manifest_path.read_text())
    return load_syncs(manifest)


def model_keys(specs: list[SyncSpec]) -> dict[str, dg.AssetKey]:
    """Each sync model's asset key, as the dbt translator names it."""
    import json

    from orchestration.dbt.assets import ThroughlineTranslator

    manifest = json.loads(throughline_dbt_project.manifest_path.read_text())
    translator = ThroughlineTranslator()
    return {spec.name: translator.get_asset_spec(manifest, spec.unique_id, throughline_dbt_project).key for spec in specs}


def build_sync_assets(specs: list[SyncSpec]) -> list[dg.AssetsDefinition]:
    keys = model_keys(specs)
    return [build_sync_asset(spec, keys[spec.name]) for spec in specs]
