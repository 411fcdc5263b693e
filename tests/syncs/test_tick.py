"""The whole loop through the `throughline` command, against the local vendor servers: two
ticks started at once run one after the other and deliver each action once; the second
sends nothing that did not change; preview sends nothing; `syncs` lists the runs."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import pinterest, snap, tiktok
from connectors.vendor_servers.meta import DEMO_AUDIENCE
from orchestration.cli import main
from orchestration.warehouse import raw_layer

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")

THROUGHLINE = str(Path(sys.executable).parent / "throughline")
NOW = "2026-11-01T00:00:00"


def delivered(local) -> Counter:
    """Every message any destination received, by action id."""
    counts: Counter = Counter()
    servers = local.servers
    counts.update({k: len(v) for k, v in servers["sendgrid"].messages_by_key.items()})
    counts.update({action: n for (_, _, action), n in servers["braze"].sends.items()})
    counts.update(servers["webhook"].received)
    counts.update(task["objectWriteTraceId"] for task in servers["hubspot"].engagements["tasks"])
    counts.update(message["data"]["throughline_action_id"] for message in servers["fcm"].messages)
    for message in servers["twilio"].messages:
        counts.update(parse_qs(urlsplit(message["status_callback"]).query)["throughline_action_id"])
    return counts


@pytest.mark.slow
def test_two_ticks_at_once_then_preview_and_syncs(engine, local, tmp_path, monkeypatch, capsys, dbt_manifest):
    monkeypatch.setenv("THROUGHLINE_TWILIO_STATUS_CALLBACK", "https://hooks.example/twilio")
    monkeypatch.setenv("THROUGHLINE_LANDING_DIR", str(tmp_path / "landing"))
    assert main(["generate", "--customers", "400", "--days", "45", "--seed", "3", "--end", "2026-11-01",
                 "--out", str(tmp_path / "landing")]) == 0

    # Both ticks find the files in the landing folder; the warehouse lock makes them take turns.
    ticks = [subprocess.Popen([THROUGHLINE, "tick", "--now", NOW], env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    for tick in ticks:
        output = tick.communicate(timeout=300)[0]
        assert tick.returncode == 0, output[-4000:]
    # The second tick's dbt started from the first's parse (dbt/assets.py, keep_partial_parse),
    # not from `throughline prepare`'s, parsed without the `now` var.
    from orchestration.dbt.project import throughline_dbt_project

    target = throughline_dbt_project.project_dir / "target"
    assert "Unable to do partial parsing" not in (target / "last_run" / "dbt.log").read_text()
    # Each invocation's own folder became target/last_run: none is left behind.
    assert not list(target.glob("run-*")), "a tick's dbt folder was left in target/"

    with raw_layer() as con:
        ledger = dict(con.execute("select action_id, status from staging.stg_throughline__delivery_ledger").fetchall())
        champions = con.execute("select count(*) from syncs.champions_to_meta").fetchone()[0]
        runs = con.execute("select sync_name, added, sent from raw.sync_runs where status = 'succeeded' order by started_at").fetchall()
        loaded = con.execute("select count(*) from raw.events").fetchone()[0]
    sent = {a for a, s in ledger.items() if s == "sent"}
    assert loaded > 1000 and sent, "the landing folder was loaded and journeys sent messages"
    assert delivered(local) == Counter({a: 1 for a in sent}), "each action delivered once, though two ticks ran"
    assert len(local.servers["meta"].audiences[DEMO_AUDIENCE]) == champions > 0
    # The ad platforms hold exactly the hashed emails of their sync models' rows.
    servers = local.servers
    for model, platform, members in (
            ("at_risk_to_snap", Platform.SNAP, servers["snap"].members(snap.DEMO_SEGMENT)),
            ("champions_to_tiktok", Platform.TIKTOK, servers["tiktok"].members(tiktok.DEMO_AUDIENCE)),
            ("hibernating_to_pinterest", Platform.PINTEREST, servers["pinterest"].members(pinterest.DEMO_LIST))):
        with raw_layer() as con:
            emails = [e for (e,) in con.execute(f"select email from syncs.{model} where email is not null").fetchall()]
        assert emails and members == {hash_identifier("email", e, platform) for e in emails}, model
    second = runs[len(runs) // 2:]
    assert all(added == 0 and sent == 0 for _, added, sent in second), "the second tick had nothing new to send"

    requests = local.requests()
    capsys.readouterr()
    assert main(["preview", "champions_to_meta"]) == 0 and main(["preview", "messages_to_sendgrid"]) == 0
    assert local.requests() == requests, "preview sends nothing"
    assert "nothing is sent" in capsys.readouterr().out

    assert main(["syncs"]) == 0
    listing = capsys.readouterr().out
    assert "champions_to_meta" in listing and "succeeded" in listing and "messages_to_twilio" in listing
