"""The main job end to end: generate, load, build every model through Dagster, summarise."""

import duckdb
import pytest

from orchestration.cli import main


@pytest.mark.slow
def test_demo_builds_every_layer_through_dagster(warehouse, tmp_path, capsys, dbt_manifest):
    out = tmp_path / "landing"
    assert main(["demo", "--customers", "120", "--days", "14", "--seed", "5", "--end", "2026-03-01", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    with duckdb.connect(str(warehouse), read_only=True) as con:
        raw = dict(con.execute("select type, count(*) from raw.events group by 1").fetchall())
        staged = {
            "track": con.execute("select count(*) from staging.stg_segment__tracks").fetchone()[0],
            "identify": con.execute("select count(*) from staging.stg_segment__identifies").fetchone()[0],
            "page": con.execute("select count(*) from staging.stg_segment__pages").fetchone()[0],
            "alias": con.execute("select count(*) from staging.stg_segment__aliases").fetchone()[0],
        }
        loads = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_duplicate), sum(rows_rejected) from raw.loads").fetchone()

    assert raw["track"] > 1000 and raw["identify"] > 0 and raw["page"] > 0
    assert staged == {t: raw.get(t, 0) for t in staged}, "staging keeps every raw call, once"
    read, loaded, duplicate, rejected = loads
    assert read == loaded + duplicate + rejected and rejected == 0, "generated data is clean"
    for heading in ("Rows per layer", "stg_segment__tracks", "raw"):
        assert heading in printed

    # A second run of the same files adds nothing.
    assert main(["load", str(out)]) == 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert dict(con.execute("select type, count(*) from raw.events group by 1").fetchall()) == raw
