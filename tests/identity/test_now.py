"""throughline_now(): the `now` var, else THROUGHLINE_NOW, else the current time; and a
changed THROUGHLINE_NOW doesn't cost dbt a parse (a changed `--vars` does)."""

from __future__ import annotations

import os

from orchestration.dbt.runner import DbtRun, in_process_dbt


def compile_now(target, warehouse, *, env_now: str | None = None, var_now: str | None = None) -> DbtRun:
    env = {"THROUGHLINE_WAREHOUSE": str(warehouse)}
    if env_now:
        env["THROUGHLINE_NOW"] = env_now
    saved = os.environ.pop("THROUGHLINE_NOW", None)
    try:
        return in_process_dbt().invoke(["compile", "--inline", "select {{ throughline_now() }} as now_at"], target_path=target,
                                       env=env, variables={"now": var_now} if var_now else None).raise_on_failure()
    finally:
        if saved is not None:
            os.environ["THROUGHLINE_NOW"] = saved


def sql(run: DbtRun) -> str:
    return run.result.results[0].node.compiled_code


def test_now_comes_from_the_var_then_the_environment_then_the_clock(warehouse, tmp_path):
    target = tmp_path / "target"

    first = compile_now(target, warehouse, env_now="2026-05-01T08:00:00")
    assert "cast('2026-05-01T08:00:00' as timestamp)" in sql(first)

    # another instant in the environment: the parse is kept
    second = compile_now(target, warehouse, env_now="2026-06-01T08:00:00")
    assert "cast('2026-06-01T08:00:00' as timestamp)" in sql(second)
    assert not second.parsed

    overridden = compile_now(target, warehouse, env_now="2026-06-01T08:00:00", var_now="2026-02-01T00:00:00")
    assert "cast('2026-02-01T00:00:00' as timestamp)" in sql(overridden)
    assert overridden.parsed, "new --vars must be parsed"

    clock = compile_now(target, warehouse)
    assert "current_timestamp" in sql(clock) and "2026-06-01" not in sql(clock)
