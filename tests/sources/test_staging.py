"""The staging models read the Fivetran seeds as landed: every row, typed, on both engines."""

from __future__ import annotations

import pytest

from tests.sources.conftest import query
from tests.sources.landing import TABLES, fixtures, land


def test_staging_reads_every_landed_row(warehouse, dbt):
    for source in TABLES:
        land(warehouse, source, fixtures(source))
    dbt.build(warehouse, "staging.shopify staging.stripe staging.hubspot")
    expected = {
        "stg_shopify__orders": len(fixtures("shopify")["order"]),
        "stg_shopify__customers": len(fixtures("shopify")["customer"]),
        "stg_stripe__charges": len(fixtures("stripe")["charge"]),
        "stg_hubspot__contacts": len(fixtures("hubspot")["contact"]),
    }
    for model, rows in expected.items():
        assert query(warehouse, f"select count(*) from staging.{model}") == [(rows,)], model
