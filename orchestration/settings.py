"""Where things live. Every setting comes from the environment, with a local default."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def warehouse_path() -> Path:
    """The DuckDB file: `THROUGHLINE_WAREHOUSE`, else ./warehouse.duckdb.

    The resolved absolute path is written back to the environment so that the dbt
    subprocess (which runs inside dbt_project/) opens the very same file.
    """
    path = Path(os.environ.get("THROUGHLINE_WAREHOUSE", "warehouse.duckdb")).expanduser().resolve()
    os.environ["THROUGHLINE_WAREHOUSE"] = str(path)
    return path
