"""Tests that run on each engine name a warehouse by a path, as DuckDB does: on PostgreSQL
the path stands for a database of the session's server, made the first time it is used.
So a test can keep two warehouses apart (`a.duckdb`, `b.duckdb`) on either engine."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from orchestration.dbt.runner import environment  # noqa: F401  (os.environ with values set, then as it was)


def database_for(path: Path) -> str:
    """The PostgreSQL database standing for `path` on the server THROUGHLINE_PG_* name."""
    import psycopg

    name = "wh_" + hashlib.md5(str(path).encode()).hexdigest()[:20]
    env = os.environ
    with psycopg.connect(host=env["THROUGHLINE_PG_HOST"], port=int(env["THROUGHLINE_PG_PORT"]),
                         user=env["THROUGHLINE_PG_USER"], password=env["THROUGHLINE_PG_PASSWORD"],
                         dbname="postgres", autocommit=True) as con:
        if not con.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            con.execute(f'create database "{name}"')
    return name


def selected(path: Path) -> dict[str, str]:
    """The environment that makes `path` the warehouse, on the engine THROUGHLINE_TARGET names."""
    if os.environ.get("THROUGHLINE_TARGET") == "postgres":
        return {"THROUGHLINE_PG_DATABASE": database_for(path)}
    return {"THROUGHLINE_WAREHOUSE": str(path)}
