"""Acceptance of issue 9: no engine-specific SQL outside adapter-dispatched macros.

Every model (.sql under dbt_project/models, the generated journeys included) and the
journey model template are scanned for syntax that only DuckDB or only PostgreSQL
understands. The list is what the dispatched macros in dbt_project/macros hide
(json_text, json_array_items, json_object_text, stable_bucket, latest_value,
normalize_email, utc_to_local/local_to_utc, interval_seconds) plus common dialect
functions, so a model that needs one calls the macro instead. Comments are not scanned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "dbt_project" / "models"
TEMPLATE = ROOT / "orchestration" / "journeys" / "journey_model.sql.j2"

# (pattern, why it is not portable). `(?<![\w.])` so dbt.hash( or dbt.datediff( and
# column names such as user_list_id do not match.
ENGINE_SPECIFIC = [
    (r"::", "`::` cast (PostgreSQL/DuckDB only): cast(x as type)"),
    (r"->>|#>>|->", "JSON operator (PostgreSQL): json_text()"),
    (r"\bjsonb?\b|\bjsonb_\w+\(|\bjson_(extract\w*|value|object|build_object|array_elements)\(|\bfrom_json\(|\bto_json\(",
     "JSON function: json_text(), json_object_text(), json_array_items()"),
    (r"(?<![\w.])(list_\w+|list|unnest|struct_pack|array_agg|string_agg|arg_max|arg_min|max_by|min_by)\(",
     "list/array function: latest_value() or a dispatched macro"),
    (r"\bstruct\b", "STRUCT type (DuckDB)"),
    (r"(?<![\w.])(epoch_ms|epoch|strftime|strptime|date_diff|date_part|datepart|date_add|date_sub|timezone|make_timestamp|to_timestamp)\(",
     "date function: dbt.datediff/dateadd/date_trunc, utc_to_local()"),
    (r"\bat\s+time\s+zone\b", "AT TIME ZONE: utc_to_local() / local_to_utc()"),
    (r"\binterval\s+'", "interval literal: dbt.dateadd or interval_seconds()"),
    (r"(?<![\w.])(regexp_matches|regexp_extract|regexp_replace|regexp_full_match|nfc_normalize|normalize|btrim|split_part|string_split|str_split|ilike)\b",
     "string function differing by engine: normalize_email() or a dispatched macro"),
    (r"(?<![\w.])(hash|md5|sha256|hashtext)\(", "hash function: dbt.hash() or stable_bucket()"),
    (r"\bqualify\b", "QUALIFY (DuckDB, not PostgreSQL): filter on row_number() in an outer select"),
    (r"(?<![\w.])(count_if|try_cast|ifnull|iff|nvl|generate_series)\(", "function of one engine only"),
    (r"\b0x[0-9a-f]|\bbit\(\d+\)", "hex/bit conversion: stable_bucket()"),
]


def scanned_files() -> list[Path]:
    files = sorted(MODELS.rglob("*.sql")) + [TEMPLATE]
    assert any("generated" in f.parts for f in files) or not (MODELS / "journeys" / "generated").exists()
    return files


def code_lines(text: str) -> list[tuple[int, str]]:
    """Lines with Jinja comments, SQL comments and string literals blanked out (line
    numbers kept), so prose and quoted values are never flagged. `interval '` keeps its
    opening quote, so it is checked before literals are blanked."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("--", 1)[0]
        lines.append((number, line))
    return lines


def without_literals(line: str) -> str:
    return re.sub(r"'[^']*'", "''", line)


def findings(path: Path) -> list[str]:
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    for number, line in code_lines(path.read_text()):
        for pattern, why in ENGINE_SPECIFIC:
            subject = line if "interval" in pattern else without_literals(line)
            if re.search(pattern, subject, flags=re.I):
                found.append(f"{name}:{number}: {why}\n    {line.strip()}")
    return found


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The patterns catch real dialect SQL, and leave portable SQL and macro calls alone."""
    bad = tmp_path / "bad.sql"
    bad.write_text("select x::int, json_extract_string(a, '$.b'), date_diff('day', a, b)\n"
                   "from t qualify row_number() over () = 1\n"
                   "-- a comment with qualify and ::\n"
                   "select arg_max(v, t), ts + interval '1 day', md5(x), a ->> 'k'\n")
    text = "\n".join(findings(bad))
    for expected in ("`::`", "JSON function", "date function", "QUALIFY", "list/array", "interval literal", "hash function", "JSON operator"):
        assert expected in text
    assert ":3:" not in text, "comments are not scanned"

    good = tmp_path / "good.sql"
    good.write_text("select cast(x as {{ dbt.type_bigint() }}), {{ json_text('a', 'b') }}, {{ dbt.hash('x') }},\n"
                    "  {{ dbt.datediff('a', 'b', 'day') }}, 'a::b -> md5(x)' as literal, user_list_id\n"
                    "{# qualify, ::, json_extract( in a Jinja comment #}\n")
    assert findings(good) == []


@pytest.mark.parametrize("path", scanned_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_models_use_no_engine_specific_sql(path):
    found = findings(path)
    assert not found, "engine-specific SQL outside a dispatched macro:\n" + "\n".join(found)
