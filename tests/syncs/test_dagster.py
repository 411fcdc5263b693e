"""The syncs in Dagster: one asset per declared sync, downstream of its dbt model, grouped
by destination, in the warehouse pool; counts as metadata; checks; schedule and sensor."""

import dagster as dg
import pytest

from orchestration.syncs.assets import SyncDestinations, build_sync_asset

from .helpers import audience_spec, member, message_spec, write_actions, write_audience

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")

SYNC_ASSETS = {
    "meta/champions_to_meta": "syncs/champions_to_meta",
    "sendgrid/champions_to_sendgrid": "syncs/champions_to_sendgrid",
    "sendgrid/messages_to_sendgrid": "syncs/messages_to_sendgrid",
    "twilio/messages_to_twilio": "syncs/messages_to_twilio",
    "braze/messages_to_braze": "syncs/messages_to_braze",
    "webhook/messages_to_webhook": "syncs/messages_to_webhook",
    "mailchimp/champions_to_mailchimp": "syncs/champions_to_mailchimp",
    "hubspot/sales_ready_leads_to_hubspot": "syncs/sales_ready_leads_to_hubspot",
    "onesignal/messages_to_onesignal": "syncs/messages_to_onesignal",
    "hubspot/messages_to_hubspot": "syncs/messages_to_hubspot",
    "fcm/messages_to_fcm": "syncs/messages_to_fcm",
    "slack/sales_ready_leads_to_slack": "syncs/sales_ready_leads_to_slack",
    "snap/at_risk_to_snap": "syncs/at_risk_to_snap",
}


def test_each_declared_sync_is_an_asset_downstream_of_its_model(dbt_manifest):
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for sync, model in SYNC_ASSETS.items():
        node = graph.get(dg.AssetKey.from_user_string(sync))
        assert dg.AssetKey.from_user_string(model) in node.parent_keys, f"{sync} depends on {model}"
        assert node.group_name == sync.split("/")[0], "grouped by destination"
        assert defs.resolve_assets_def(node.key).op.pool == "warehouse", "never two at once with dbt or another sync"
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("meta/champions_to_meta", "audience_shrink_guard") in checks
    assert ("twilio/messages_to_twilio", "unresolved_deliveries") in checks
    assert ("braze/messages_to_braze", "reject_rate") in checks

    tick = set(defs.resolve_job_def("tick").asset_layer.executable_asset_keys)
    build = set(defs.resolve_job_def("build").asset_layer.executable_asset_keys)
    syncs = {dg.AssetKey.from_user_string(s) for s in SYNC_ASSETS}
    assert syncs <= tick and not syncs & build and dg.AssetKey(["raw", "events"]) in tick - build
    assert defs.resolve_schedule_def("tick_every_5_minutes").cron_schedule == "*/5 * * * *"
    assert defs.resolve_sensor_def("landing_sensor").job_name == "tick"


def test_a_sync_asset_records_counts_and_checks(engine, local):
    spec = audience_spec(max_shrink_percent=20)
    asset = build_sync_asset(spec, dg.AssetKey(["syncs", spec.name]))
    write_audience([member(i) for i in range(50)])
    result = dg.materialize([asset], resources={"sync_destinations": SyncDestinations()})
    assert result.success
    metadata = result.asset_materializations_for_node("meta__champions_to_meta")[0].metadata
    assert metadata["added"].value == 50 and metadata["kind"].value == "first_sync"
    assert {"removed", "changed", "sent", "rejected", "retried", "skipped", "duration_seconds", "rejected_sample"} <= set(metadata)
    assert all(e.passed for e in result.get_asset_check_evaluations())

    write_audience([member(i) for i in range(20)])
    refused = dg.materialize([asset], resources={"sync_destinations": SyncDestinations()}, raise_on_error=False)
    assert not refused.success
    guard = [e for e in refused.get_asset_check_evaluations() if e.check_name == "audience_shrink_guard"]
    assert guard and not guard[0].passed and "refused" in guard[0].metadata["refused"].value

    config = {"ops": {"meta__champions_to_meta": {"config": {"confirm_shrink": True}}}}
    confirmed = dg.materialize([asset], resources={"sync_destinations": SyncDestinations()}, run_config=config)
    assert confirmed.asset_materializations_for_node("meta__champions_to_meta")[0].metadata["removed"].value == 30


def test_a_message_sync_asset_surfaces_unknown_deliveries(engine, local):
    from connectors.vendor_servers import Fault

    spec = message_spec("twilio", batch_size=10)
    asset = build_sync_asset(spec, dg.AssetKey(["syncs", spec.name]))
    write_actions("twilio", 20)
    local.servers["twilio"].inject(Fault.RESET, count=1, process_first=True)
    result = dg.materialize([asset], resources={"sync_destinations": SyncDestinations()})
    metadata = result.asset_materializations_for_node("twilio__messages_to_twilio")[0].metadata
    assert metadata["sent"].value == 19 and metadata["unknown"].value == 1
    unresolved = [e for e in result.get_asset_check_evaluations() if e.check_name == "unresolved_deliveries"][0]
    assert not unresolved.passed and unresolved.metadata["unknown"].value == 1
    assert "SECRET" not in str(metadata) and local.env["THROUGHLINE_TWILIO_AUTH_TOKEN"] not in str(metadata)


def test_the_landing_sensor_starts_a_tick_for_new_files(tmp_path, monkeypatch):
    from orchestration.syncs.landing import landing_sensor

    monkeypatch.setenv("THROUGHLINE_LANDING_DIR", str(tmp_path))
    assert isinstance(landing_sensor(dg.build_sensor_context()), dg.SkipReason)
    (tmp_path / "events.jsonl").write_text("{}\n")
    context = dg.build_sensor_context()
    request = landing_sensor(context)
    assert isinstance(request, dg.RunRequest) and context.cursor
    assert isinstance(landing_sensor(dg.build_sensor_context(cursor=context.cursor)), dg.SkipReason), "not twice for one file"


@pytest.mark.parametrize("bad", [{"mode": "sideways"}])
def test_a_bad_declaration_fails_definitions_load(bad, dbt_manifest, tmp_path):
    """Loading the definitions validates every sync: the error names the model, field and fix."""
    import json

    from orchestration.syncs.spec import SyncDeclarationError, load_syncs

    manifest = json.loads(json.dumps(dbt_manifest))
    node = manifest["nodes"]["model.throughline.champions_to_meta"]
    node["config"]["meta"]["sync"].update(bad)
    with pytest.raises(SyncDeclarationError, match="sync model 'champions_to_meta', field 'meta.sync.mode'.*Fix: use one of"):
        load_syncs(manifest)


def _tick_job():
    """The `tick` job as the daemon's run worker loads it (execute_job needs it reconstructable)."""
    from orchestration.definitions import defs

    return defs.resolve_job_def("tick")


def test_the_tick_runs_its_syncs_in_one_process_messages_first_and_a_failure_stops_no_other(warehouse, local, monkeypatch,
                                                                                            dbt_manifest):
    """The tick's executor as the daemon runs it: every step in the run's own process (no
    subprocess per step), message syncs before audience syncs, and a sync that fails
    (here Twilio without its credentials) leaves the others to run."""
    import os
    from pathlib import Path

    import yaml

    from orchestration.syncs.assets import load_sync_specs, sync_asset_key, sync_op_name
    from orchestration.warehouse import raw_layer

    specs = load_sync_specs()
    models = [(s.unique_id, "syncs", s.name) for s in specs] + [("model.throughline.dim_customers", "marts", "dim_customers")]
    with raw_layer() as con:  # every sync model (and the customers messages render from), empty, as dbt would make it
        for unique_id, schema, name in models:
            columns = dbt_manifest["nodes"][unique_id]["columns"]
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create table {schema}.{name} (" + ", ".join(
                f"{c} {'timestamp' if c.endswith('_at') else 'varchar'}" for c in columns) + ")")
    monkeypatch.delenv("THROUGHLINE_TWILIO_AUTH_TOKEN")
    project_instance = yaml.safe_load((Path(__file__).parents[2] / "dagster.yaml").read_text())  # the pool, the queue
    with dg.instance_for_test(overrides=project_instance) as instance:
        result = dg.execute_job(dg.reconstructable(_tick_job), instance, raise_on_error=False,
                                asset_selection=[sync_asset_key(spec) for spec in specs])
        started = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
        failed = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE}
        succeeded = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}

    assert {e.pid for e in started} == {os.getpid()}, "every step in the run's process"
    order = [e.step_key for e in started]
    messages = [sync_op_name(s) for s in specs if s.operation == "messages"]
    audiences = [sync_op_name(s) for s in specs if s.operation != "messages"]
    assert messages and audiences and max(map(order.index, messages)) < min(map(order.index, audiences)), order
    assert failed == {"twilio__messages_to_twilio"}
    assert succeeded == set(order) - failed, "the other syncs ran and succeeded"
