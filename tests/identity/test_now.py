"""throughline_now(): the `now` var, else THROUGHLINE_NOW, else the current time; and a
changed THROUGHLINE_NOW doesn't cost dbt a full re-parse (a changed `--vars` does)."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import DBT, DBT_PROJECT_DIR


def compile_now(target, warehouse, *, env_now: str | None = None, var_now: str | None = None) -> str:
    args = [str(DBT), "compile", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target / "logs"),
            "--inline", "select {{ throughline_now() }} as now_at"]
    if var_now:
        args += ["--vars", json.dumps({"now": var_now})]
    env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("THROUGHLINE_NOW", None)
    if env_now:
        env["THROUGHLINE_NOW"] = env_now
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def test_now_comes_from_the_var_then_the_environment_then_the_clock(warehouse, tmp_path):
    target = tmp_path / "target"

    first = compile_now(target, warehouse, env_now="2026-05-01T08:00:00")
    assert "cast('2026-05-01T08:00:00' as timestamp)" in first

    # another instant in the environment: the saved manifest is still used
    second = compile_now(target, warehouse, env_now="2026-06-01T08:00:00")
    assert "cast('2026-06-01T08:00:00' as timestamp)" in second
    assert "Unable to do partial parsing" not in second

    overridden = compile_now(target, warehouse, env_now="2026-06-01T08:00:00", var_now="2026-02-01T00:00:00")
    assert "cast('2026-02-01T00:00:00' as timestamp)" in overridden

    clock = compile_now(target, warehouse)
    assert "current_timestamp" in clock and "2026-06-01" not in clock
