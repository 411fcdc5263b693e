"""A readable account of what is in the warehouse: rows per layer, and rejects by reason."""

from __future__ import annotations

from orchestration.warehouse import Connection, dialect

LAYER_ORDER = ["raw", "staging", "seeds", "identity", "profiles", "marts", "segments", "journeys", "syncs"]


def format_table(headers: list[str], rows: list[tuple]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(isinstance(row[i], int) for row in rows) and rows for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def table_counts(con: Connection) -> list[tuple[str, str, int]]:
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('information_schema', 'pg_catalog', 'main', 'public') "
        "and substr(table_schema, 1, 3) <> 'pg_' order by 1, 2"  # PostgreSQL's temporary schemas
    ).fetchall()
    rank = {schema: i for i, schema in enumerate(LAYER_ORDER)}
    tables.sort(key=lambda t: (rank.get(t[0], len(rank)), t[0], t[1]))
    return [(schema, name, con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]) for schema, name in tables]


def _has_table(con: Connection, schema: str, table: str) -> bool:
    return con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()[0] > 0


def identity_summary(con: Connection) -> list[str]:
    """Customers resolved from identifiers, what was merged or excluded, and the RFM segments."""
    if not _has_table(con, "marts", "customer_identifiers"):
        return []
    identifiers, customers, multi = con.execute(
        "select count(*), count(distinct customer_id), "
        "(select count(*) from (select customer_id from marts.customer_identifiers group by 1 having count(*) > 1) as c) "
        "from marts.customer_identifiers"
    ).fetchone()
    rows = [
        ("identifiers that link people", identifiers),
        ("customers resolved", customers),
        ("identifiers merged into another's customer", identifiers - customers),
        ("customers with more than one identifier", multi),
    ]
    if _has_table(con, "marts", "customer_id_merges"):
        rows.append(("customer ids merged away since the first build", con.execute("select count(*) from marts.customer_id_merges").fetchone()[0]))
    if _has_table(con, "marts", "excluded_identifiers"):
        examples_sql = dialect(con).ordered_list("identifier_type || ' ' || identifier_value", "linked_people desc")
        rows += [
            (f"excluded from linking: {reason} (" + ", ".join(examples[:3]) + (", ..." if n > 3 else "") + ")", n)
            for reason, n, examples in con.execute(
                f"select exclusion_reason, count(*), {examples_sql} "
                "from marts.excluded_identifiers group by 1 order by 2 desc"
            ).fetchall()
        ]
    parts = ["", "Identity resolution", format_table(["", "count"], rows)]
    if _has_table(con, "marts", "customer_rfm"):
        segments = con.execute(
            "select segment_name, count(*) as customers, round(100.0 * count(*) / sum(count(*)) over (), 1), "
            "round(avg(recency_days), 1), round(avg(frequency), 2), round(avg(monetary), 2) "
            "from marts.customer_rfm group by 1 order by 2 desc"
        ).fetchall()
        parts += ["", "RFM segments (marts.customer_rfm)", format_table(
            ["segment", "customers", "% of buyers", "avg recency (days)", "avg orders", "avg revenue (USD)"],
            [(name, n, f"{share}", f"{r}", f"{f}", f"{m:,.2f}") for name, n, share, r, f, m in segments],
        )]
    return parts


def warehouse_summary(con: Connection) -> str:
    parts = ["Rows per layer", format_table(["layer", "table", "rows"], table_counts(con))]
    parts += identity_summary(con)
    rejects = con.execute(
        "select reason_code, count(*) as n, min(reason) from raw.rejects group by 1 order by 2 desc"
    ).fetchall()
    if rejects:
        parts += ["", "Rejected rows by reason (raw.rejects)", format_table(["reason", "rows", "example"], rejects)]
    return "\n".join(parts)
