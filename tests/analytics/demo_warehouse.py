"""A demo warehouse built the way a user builds one: generate, load, the phone step,
then `dbt build` of the analytics models and everything upstream, with their data tests.
Shared by the analytics, planted-effect and report tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestration.dbt.runner import in_process_dbt

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOW = "2026-03-01 00:00:00"
END = "2026-03-01"


def build_demo_warehouse(tmp: Path, *, customers: int, days: int, seed: int, plant: dict[str, float] | None = None) -> Path:
    path = tmp / "warehouse.duckdb"
    env = os.environ | {"THROUGHLINE_WAREHOUSE": str(path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def run(*args: str, cwd: Path = ROOT) -> None:
        result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    planted = [arg for journey, lift in (plant or {}).items() for arg in ("--plant-effect", f"{journey}={lift}")]
    run(str(BIN / "throughline"), "generate", "--customers", str(customers), "--days", str(days), "--seed", str(seed),
        "--end", END, "--out", str(tmp / "data"), *planted)
    run(str(BIN / "throughline"), "load", str(tmp / "data"))
    run(sys.executable, "-m", "orchestration.phone_numbers")
    in_process_dbt().invoke(["build", "--select", "+analytics", "--indirect-selection", "cautious"], target_path=tmp / "target",
                            env={"THROUGHLINE_WAREHOUSE": str(path)}, variables={"now": NOW}, artifacts=False).raise_on_failure()
    return path
