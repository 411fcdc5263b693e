"""The Fivetran seed CSVs (tests/fixtures/fivetran/) as their loader lands them: one table
per CSV in the source's schema (`shopify.order`, `stripe.charge`, `hubspot.contact`), every
value as the text the CSV holds and empty cells null, on whichever engine the warehouse is.
Staging casts every column it reads, so typed landings (Fivetran's own) read the same."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestration.warehouse import connect
from tests.engines import environment, selected

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fivetran"

# Seed file stem -> the table the connector lands.
TABLES = {
    "shopify": {f"shopify_{t}_data": t for t in
                ["order", "order_line", "refund", "order_line_refund", "customer", "abandoned_checkout"]},
    "stripe": {f"{t}_data": t for t in
               ["customer", "charge", "refund", "invoice", "subscription", "subscription_history", "subscription_item", "price",
                "plan"]},
    "hubspot": {f"{t}_data": t for t in
                ["contact", "company", "deal", "deal_stage", "deal_pipeline_stage", "deal_contact", "email_event",
                 "email_event_status_change"]},
}


def fixture(source: str, table: str) -> pd.DataFrame:
    """One landed table as the seed has it: text, empty cells as None (a BOM is no part of a name)."""
    stem = next(stem for stem, name in TABLES[source].items() if name == table)
    frame = pd.read_csv(FIXTURES / source / f"{stem}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return frame.replace({"": None})


def fixtures(source: str) -> dict[str, pd.DataFrame]:
    return {table: fixture(source, table) for table in TABLES[source].values()}


def land(warehouse: Path, source: str, tables: dict[str, pd.DataFrame]) -> None:
    """Replace the source's schema with `tables`, each as a table of text columns."""
    with environment(selected(warehouse)):
        con = connect(warehouse)
    try:
        con.execute(f"drop schema if exists {source} cascade")
        con.execute(f"create schema {source}")
        for table, frame in tables.items():
            columns = ", ".join(f'"{column}" text' for column in frame.columns)
            con.execute(f'create table {source}."{table}" ({columns})')
            if len(frame):
                marks = ", ".join("?" for _ in frame.columns)
                rows = [[None if pd.isna(v) else v for v in row] for row in frame.itertuples(index=False)]
                con.executemany(f'insert into {source}."{table}" values ({marks})', rows)
    finally:
        con.close()
