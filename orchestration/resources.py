"""Resources shared by the assets."""

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource

from orchestration.dbt.project import throughline_dbt_project


def dbt_executable() -> str:
    """The dbt installed beside this Python, so an un-activated venv still finds it."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=throughline_dbt_project, dbt_executable=dbt_executable())
