"""A readable account of what is in the warehouse: rows per layer, and rejects by reason."""

from __future__ import annotations

import duckdb

LAYER_ORDER = ["raw", "staging", "identity", "marts", "journeys", "syncs"]


def format_table(headers: list[str], rows: list[tuple]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def table_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog', 'main') order by 1, 2"
    ).fetchall()
    rank = {schema: i for i, schema in enumerate(LAYER_ORDER)}
    tables.sort(key=lambda t: (rank.get(t[0], len(rank)), t[0], t[1]))
    return [(schema, name, con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]) for schema, name in tables]


def warehouse_summary(con: duckdb.DuckDBPyConnection) -> str:
    parts = ["Rows per layer", format_table(["layer", "table", "rows"], table_counts(con))]
    rejects = con.execute(
        "select reason_code, count(*) as n, any_value(reason) from raw.rejects group by 1 order by 2 desc"
    ).fetchall()
    if rejects:
        parts += ["", "Rejected rows by reason (raw.rejects)", format_table(["reason", "rows", "example"], rejects)]
    return "\n".join(parts)
