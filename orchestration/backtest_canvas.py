"""A backtest's canvas and its customers most affected, for the report.

At the end of the replay, while the scratch copy still exists, the analytics models the
canvas counts read are built there (as of the last instant), and the live canvas's own
`node_counts` reads them on a scratch connection: the journey as the report's canvas would
have drawn it at `--to`, had it run as simulated. The counts go to
`analytics.journey_backtest_canvas` in the real warehouse, one row per node and count; the
report draws `layout(journey)` with them through the same `render_svg`.
docs/journeys.md, "Backtests".
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from orchestration.dbt.runner import environment, in_process_dbt
from orchestration.report.canvas import NEEDS, Canvas, build_canvas, render_svg
from orchestration.warehouse import Connection, connect

CANVAS_DDL = """
create table if not exists analytics.journey_backtest_canvas (
    backtest_id    varchar   not null,
    journey        varchar   not null,
    from_at        timestamp not null,
    to_at          timestamp not null,
    every_seconds  bigint    not null,
    instants       bigint    not null,
    node_id        varchar   not null,
    count_index    bigint    not null,   -- the count's place on its node
    label          varchar   not null,   -- as the canvas shows it: sent, held back...
    metric         varchar   not null,   -- as render_svg's data-metric: sent, suppressed...
    value          bigint    not null,
    note           varchar,              -- the node's note: its top suppression reason
    created_at     timestamp not null
)
"""

CUSTOMERS_DDL = """
create table if not exists analytics.journey_backtest_customers (
    backtest_id    varchar   not null,
    journey        varchar   not null,
    customer_rank  bigint    not null,   -- 1 = most affected: most sends, then suppressions
    customer_id    varchar   not null,
    would_send     bigint    not null,
    suppressed     bigint    not null,
    deferred       bigint    not null,
    converted      bigint    not null,
    created_at     timestamp not null
)
"""


def canvas_models(manifest_path: Path) -> list[str]:
    """The models `node_counts` reads and the views between them and the journey tables
    (which the last instant just built): views are cheap to make and may be missing in a
    warehouse that never built the analytics layer."""
    nodes = json.loads(manifest_path.read_text())["nodes"]
    models = {key: node for key, node in nodes.items() if node["resource_type"] == "model"}
    selected = {key for key, node in models.items() if node["name"] in NEEDS}
    stack = list(selected)
    while stack:
        for parent in models[stack.pop()]["depends_on"]["nodes"]:
            if parent in models and parent not in selected and models[parent]["config"]["materialized"] == "view":
                selected.add(parent)
                stack.append(parent)
    return sorted(models[key]["name"] for key in selected)


def simulated_canvas(journey_name: str, at: datetime, scratch_env: dict[str, str], target_path: Path,
                     manifest_path: Path) -> Canvas:
    """The journey's canvas from the scratch copy, as of its last instant `at`."""
    from orchestration.journeys.compiler import load_project

    journey = next(j for j in load_project()[0] if j.name == journey_name)
    in_process_dbt().invoke(["run", "--quiet", "--select", *canvas_models(manifest_path)], target_path=target_path,
                            env={**scratch_env, "THROUGHLINE_NOW": at.strftime("%Y-%m-%d %H:%M:%S")}).raise_on_failure()
    with environment(scratch_env):
        con = connect()
        try:
            return build_canvas(con, journey)
        finally:
            con.close()


def write_canvas_and_customers(con: Connection, result, created: datetime) -> None:
    """Beside analytics.journey_backtests: the canvas counts and the customers most affected."""
    con.execute(CANVAS_DDL)
    con.execute(CUSTOMERS_DDL)
    window = [result.backtest_id, result.journey, result.start, result.end, int(result.every.total_seconds()),
              len(result.instants)]
    if result.canvas is not None:
        con.executemany("insert into analytics.journey_backtest_canvas values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[*window, node.id, index, label_text, metric, value, node.note or None, created]
                         for node in result.canvas.nodes for index, (label_text, metric, value) in enumerate(node.counts)])
    if result.most_affected:
        con.executemany("insert into analytics.journey_backtest_customers values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [[result.backtest_id, result.journey, rank, c["customer_id"], c["would_send"], c["suppressed"],
                          c["deferred"], c["converted"], created] for rank, c in enumerate(result.most_affected, 1)])


def write_canvas_svg(result, path: Path) -> None:
    """`--canvas FILE.svg`: the backtest's canvas as a standalone SVG file (which, unlike
    inline SVG in the report, needs its namespace)."""
    svg = str(render_svg(result.canvas, backtest_id=result.backtest_id))
    path.write_text(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1) + "\n", encoding="utf-8")
