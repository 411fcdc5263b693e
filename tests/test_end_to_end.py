"""The main job end to end, on each engine: generate, load, build every model through
Dagster, sync to the local vendor servers, summarise."""

import pytest

from orchestration.cli import main
from orchestration.warehouse import raw_layer

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")


def raw_and_staged() -> tuple[dict, dict, tuple]:
    with raw_layer() as con:
        raw = dict(con.execute("select type, count(*) from raw.events group by 1").fetchall())
        staged = {
            "track": con.execute("select count(*) from staging.stg_segment__tracks").fetchone()[0],
            "identify": con.execute("select count(*) from staging.stg_segment__identifies").fetchone()[0],
            "page": con.execute("select count(*) from staging.stg_segment__pages").fetchone()[0],
            "alias": con.execute("select count(*) from staging.stg_segment__aliases").fetchone()[0],
        }
        loads = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_duplicate), sum(rows_rejected) from raw.loads").fetchone()
    return raw, staged, loads


@pytest.mark.slow
def test_demo_builds_every_layer_through_dagster(engine, tmp_path, capsys, dbt_manifest):
    out = tmp_path / "landing"
    assert main(["demo", "--customers", "120", "--days", "14", "--seed", "5", "--end", "2026-03-01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    raw, staged, loads = raw_and_staged()
    assert raw["track"] > 1000 and raw["identify"] > 0 and raw["page"] > 0
    assert staged == {t: raw.get(t, 0) for t in staged}, "staging keeps every raw call, once"
    read, loaded, duplicate, rejected = loads
    assert read == loaded + duplicate + rejected and rejected == 0, "generated data is clean"
    for heading in ("Rows per layer", "stg_segment__tracks", "raw"):
        assert heading in printed
    with raw_layer() as con:
        synced = dict(con.execute("select status, count(*) from raw.sync_runs group by 1").fetchall())
        ran = {name for (name,) in con.execute("select distinct sync_name from raw.sync_runs where status = 'succeeded'").fetchall()}
    assert synced.get("succeeded", 0) > 0 and set(synced) == {"succeeded"}, f"the syncs ran against the local vendor servers: {synced}"
    assert {"champions_to_mailchimp", "sales_ready_leads_to_hubspot", "champions_to_meta", "messages_to_sendgrid",
            "messages_to_onesignal", "messages_to_hubspot", "at_risk_to_snap", "champions_to_tiktok",
            "high_intent_trialists_to_linkedin", "hibernating_to_pinterest", "high_intent_trialists_to_activecampaign",
            "sales_ready_leads_to_slack", "messages_to_fcm"} <= ran

    # A second run of the same files adds nothing.
    assert main(["load", str(out)]) == 0
    assert raw_and_staged()[0] == raw
