"""Holdout arms: a stable hash of journey and customer, the same on every run and engine."""

import hashlib
from pathlib import Path

import duckdb

from orchestration.dbt.runner import in_process_dbt

CUSTOMERS = 100_000
HOLDOUT_PERCENT = 10


def compiled_bucket_sql(tmp_path: Path, numbers: str = f"range({CUSTOMERS})", env: dict | None = None) -> str:
    """The real `stable_bucket` macro, compiled by dbt for the DuckDB target (or the
    target `env` selects), over the integers of the relation `numbers`."""
    inline = (
        "select i, {{ stable_bucket(\"'abandoned_cart:cus_' || cast(i as varchar)\", 10000) }} as bucket "
        f"from {numbers} as t(i)"
    )
    result = in_process_dbt().invoke(
        ["compile", "--inline", inline], target_path=tmp_path / "target",
        env={"THROUGHLINE_TARGET": "duckdb", "THROUGHLINE_WAREHOUSE": str(tmp_path / "w.duckdb"), **(env or {})},
    ).raise_on_failure()
    return result.result.results[0].node.compiled_code.strip()


def python_bucket(customer_id: str) -> int:
    """The same rule written independently: first 7 hex digits of md5, modulo 10,000."""
    return int(hashlib.md5(f"abandoned_cart:{customer_id}".encode()).hexdigest()[:7], 16) % 10000


def test_control_share_is_the_declared_percentage_and_stable(tmp_path, dbt_manifest):
    sql = compiled_bucket_sql(tmp_path)
    with duckdb.connect() as con:
        first = dict(con.execute(sql).fetchall())
        second = dict(con.execute(sql).fetchall())
    control = {i for i, bucket in first.items() if bucket < HOLDOUT_PERCENT * 100}

    share = 100 * len(control) / CUSTOMERS
    assert abs(share - HOLDOUT_PERCENT) <= 1, share
    assert first == second, "the same customers are in control on every run"
    # Any engine that computes md5 gets the same arms: check against an independent Python version.
    assert all(first[i] == python_bucket(f"cus_{i}") for i in range(0, CUSTOMERS, 97))


def test_postgresql_puts_every_customer_in_the_same_bucket(tmp_path, dbt_manifest, postgres_warehouse, postgres_server):
    """The holdout arm must not change when a warehouse moves engine."""
    sql = compiled_bucket_sql(tmp_path, f"generate_series(0, {CUSTOMERS - 1})", postgres_server.env(postgres_warehouse))
    assert "md5(" in sql and "range(" not in sql
    with postgres_server.connect(postgres_warehouse) as con:
        on_postgres = dict(con.execute(sql).fetchall())
    with duckdb.connect() as con:
        on_duckdb = dict(con.execute(compiled_bucket_sql(tmp_path)).fetchall())
    assert len(on_postgres) == CUSTOMERS
    assert on_postgres == on_duckdb
    assert len(set(on_postgres.values())) > 9000, "the buckets spread over the range"
