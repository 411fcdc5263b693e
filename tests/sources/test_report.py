"""The report shows the landed sources' revenue as analytics.source_revenue has it."""

from __future__ import annotations

import math
from html.parser import HTMLParser

from orchestration.report import write_report
from orchestration.warehouse import connect
from tests.engines import environment, selected
from tests.sources.conftest import Dbt, query
from tests.sources.test_sources import MODELS, land_all, landed_tables


class SourceCells(HTMLParser):
    """(source, metric) -> data-value of every cell the report marks with data-source."""

    def __init__(self):
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-metric" in attrs and ("data-source" in attrs or "data-month" in attrs):
            self.cells[(attrs.get("data-source") or attrs["data-month"], attrs["data-metric"])] = attrs["data-value"]


def test_the_report_shows_revenue_orders_and_mrr_per_source(warehouse, tmp_path, dbt: Dbt):
    land_all(warehouse, tmp_path, landed_tables())
    dbt.build(warehouse, f"{MODELS} +mrr_movements")
    out = tmp_path / "report.html"
    with environment(selected(warehouse)):
        con = connect(warehouse)
    try:
        write_report(con, out)
    finally:
        con.close()
    parser = SourceCells()
    parser.feed(out.read_text())

    rows = query(warehouse, "select source, orders, revenue_usd, average_order_value_usd, mrr_usd, active_subscriptions "
                            "from analytics.source_revenue")
    assert {source for source, *_ in rows} == {"shopify", "stripe"}
    for source, *values in rows:
        for metric, value in zip(("orders", "revenue_usd", "average_order_value_usd", "mrr_usd", "active_subscriptions"), values):
            shown = parser.cells[(source, metric)]
            assert (shown == "") if value is None else math.isclose(float(shown), float(value)), (source, metric)

    # Stripe's MRR movements, a row a month, each figure as analytics.mrr_movements has it.
    metrics = ("new_mrr_usd", "expansion_mrr_usd", "contraction_mrr_usd", "churned_mrr_usd", "reactivation_mrr_usd",
               "net_new_mrr_usd")
    months = query(warehouse, f"select movement_month, {', '.join(metrics)} from analytics.mrr_movements "
                              "order by movement_month desc limit 12")  # the report shows the last twelve
    assert months, "the landed Stripe history has movements"
    for month, *values in months:
        for metric, value in zip(metrics, values):
            assert math.isclose(float(parser.cells[(month.strftime("%Y-%m"), metric)]), float(value)), (month, metric)
