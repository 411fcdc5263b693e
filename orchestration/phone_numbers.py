"""Phone numbers in E.164, parsed with `phonenumbers` (Google's libphonenumber metadata).

People type phones any way they like: `(415) 555-0132`, `+44 (0)20 7946 0958`,
`0049 30 12345678`. SQL can't parse those correctly for every country, so this step
does it in Python: it reads the distinct (raw phone, country) pairs of identify traits
that are not in `raw.phone_numbers` yet, parses each once, and appends the result; and
the phones of the landed Shopify, Stripe and HubSpot tables (docs/sources.md), with no
country, when those tables are there.
The identity models join to that lookup (dbt source `phone.phone_numbers`); the Dagster
asset that runs this step before dbt is in orchestration/identity/assets.py; this module
stays free of Dagster so the step is cheap to run alone (`python -m orchestration.phone_numbers`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import phonenumbers
import pyarrow as pa

from orchestration.warehouse import Connection, dialect, stage, unstage

PHONE_NUMBERS_TABLE = "raw.phone_numbers"
# DuckDB takes 80% of the machine unless told: the scan of identify calls spills beyond
# this instead (at 1M customers it peaked at 9.9 GB uncapped).
PHONE_STEP_MEMORY_LIMIT = "1GB"

PHONE_NUMBERS_DDL = f"""
create schema if not exists raw;

-- One row per distinct (raw phone, country) pair seen in identify traits.
create table if not exists {PHONE_NUMBERS_TABLE} (
    raw_phone      varchar   not null,  -- traits.phone exactly as sent
    country_code   varchar,             -- traits.country of the same call: the region for national formats
    e164           varchar,             -- +<country code><number>, null when it could not be parsed
    is_valid       boolean   not null,  -- usable as a person's phone: possible length, not a placeholder
    reason         varchar,             -- why not: unparseable, missing_region, impossible_number, placeholder_number
    is_known_range boolean   not null,  -- libphonenumber's strict check: in a range assigned in its region
    normalised_at  timestamp not null,
    first_loaded_at timestamp not null  -- loaded_at of the load the pair first came in: the next run's starting point
);
"""

# Distinct phone/country pairs of identify calls that the lookup does not hold yet,
# among the calls of the newest load it has seen and later ones (>=: a load still being
# written when the step last ran is read again; the anti-join drops what is known).
NEW_PHONE_PAIRS = """
with traits as (
    select
        {phone} as raw_phone,
        {country} as country_code,
        min(loaded_at) as first_loaded_at
    from raw.events
    where type = 'identify'
      and loaded_at >= (select coalesce(max(first_loaded_at), timestamp '1900-01-01') from {PHONE_NUMBERS_TABLE})
    group by 1, 2
)

select raw_phone, country_code, first_loaded_at
from traits
where raw_phone is not null
  and not exists (
      select 1 from {PHONE_NUMBERS_TABLE} as known
      where known.raw_phone = traits.raw_phone
        and known.country_code is not distinct from traits.country_code
  )
"""


# The phone columns of the landed sources, (source, table, column), read where present:
# the identity graph reads the same values (stg_* trim them, no country) from
# int_identity__source_records. HubSpot lands property_phone only for a portal using it.
SOURCE_PHONE_COLUMNS = [
    ("shopify", "customer", "phone"),
    ("shopify", "abandoned_checkout", "phone"),
    ("stripe", "customer", "phone"),
    ("hubspot", "contact", "property_phone"),
]


def source_schemas(enabled: set[str] | None = None) -> dict[str, str]:
    """The schema of each source switched on (`enabled`, else the dbt vars `<source>_enabled`
    in dbt_project.yml), as its `<source>_schema` var says: a source off costs nothing here."""
    import yaml

    from orchestration.settings import DBT_PROJECT_DIR

    variables = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text()).get("vars") or {}
    sources = {source for source, _, _ in SOURCE_PHONE_COLUMNS}
    if enabled is None:
        enabled = {source for source in sources if variables.get(f"{source}_enabled")}
    return {source: variables.get(f"{source}_schema", source) for source in sources & enabled}


def _source_phones(con: Connection, enabled: set[str] | None) -> set[str]:
    """The distinct trimmed phones of the switched-on sources' tables present in the warehouse."""
    schemas = source_schemas(enabled)
    if not schemas:
        return set()
    present = set(con.execute("select table_schema, table_name, column_name from information_schema.columns").fetchall())
    selects = [
        f'select nullif(trim(cast("{column}" as varchar)), \'\') as raw_phone from {schemas[source]}."{table}"'
        for source, table, column in SOURCE_PHONE_COLUMNS
        if source in schemas and (schemas[source], table, column) in present
    ]
    if not selects:
        return set()
    rows = con.execute(f"""
        select distinct raw_phone from ({' union all '.join(selects)}) as phones
        where raw_phone is not null
          and not exists (
              select 1 from {PHONE_NUMBERS_TABLE} as known
              where known.raw_phone = phones.raw_phone and known.country_code is null
          )""").fetchall()
    return {raw for (raw,) in rows}


@dataclass(frozen=True)
class ParsedPhone:
    e164: str | None
    is_valid: bool
    reason: str | None
    is_known_range: bool = False


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(raw_phone: str, country_code: str | None) -> ParsedPhone:
    """Parse one phone as typed, with the person's country as the default region.

    `is_valid` means usable as this person's phone: it parses, has a possible length for
    its country and is not a placeholder of one repeated digit (`0000000000`). It does not
    require libphonenumber's strict `is_valid_number`, which rejects fictional ranges
    people really type (555-01xx in unassigned US area codes, Ofcom's drama ranges); that
    check is kept as `is_known_range`.
    """
    text = raw_phone.strip()
    region = (country_code or "").strip().upper() or None
    candidates = [_parse(text, region)]
    if text.startswith("00"):
        # "0049 ..." / "0061 ...": 00 is the international prefix in most of the world,
        # but not in every default region (Australia dials 0011), so also read it as "+".
        candidates.append(_parse("+" + text[2:], None))
    parsed = [n for n in candidates if n is not None]
    if not parsed:
        return ParsedPhone(None, False, "missing_region" if region is None and not text.startswith("+") else "unparseable")
    number = next((n for n in parsed if phonenumbers.is_valid_number(n)), None) or next(
        (n for n in parsed if phonenumbers.is_possible_number(n)), parsed[0]
    )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    known_range = phonenumbers.is_valid_number(number)
    if not phonenumbers.is_possible_number(number):
        return ParsedPhone(e164, False, "impossible_number", known_range)
    if len(set(phonenumbers.national_significant_number(number))) == 1:
        return ParsedPhone(e164, False, "placeholder_number", known_range)
    return ParsedPhone(e164, True, None, known_range)


def normalise_new_phone_numbers(con: Connection, sources: set[str] | None = None) -> dict[str, int]:
    """Append every not-yet-seen (raw phone, country) pair to raw.phone_numbers. `sources`:
    the landed sources whose phones to read (None: those dbt_project.yml switches on)."""
    con.execute(PHONE_NUMBERS_DDL)
    has_events = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'events'"
    ).fetchone()[0]
    d = dialect(con)
    new_pairs = NEW_PHONE_PAIRS.format(phone=d.json_text("traits", "phone"), country=d.json_text("traits", "country"),
                                       PHONE_NUMBERS_TABLE=PHONE_NUMBERS_TABLE)
    pairs = con.execute(new_pairs).fetchall() if has_events else []
    # Source phones go in with the watermark as it stands, so they never move it past a call.
    # fetchall: DuckDB refuses to register the staged table below while a result is unread.
    watermark = con.execute(f"select max(first_loaded_at) from {PHONE_NUMBERS_TABLE}").fetchall()[0][0] or datetime(1900, 1, 1)
    seen = {(raw, country) for raw, country, _ in pairs}
    pairs += [(raw, None, watermark) for raw in sorted(_source_phones(con, sources)) if (raw, None) not in seen]
    normalised_at = datetime.now(timezone.utc).replace(tzinfo=None)
    parsed = [normalise_phone(raw_phone, country_code) for raw_phone, country_code, _ in pairs]
    if parsed:
        new_numbers = pa.table({
            "raw_phone": [raw for raw, _, _ in pairs],
            "country_code": [country for _, country, _ in pairs],
            "e164": [p.e164 for p in parsed],
            "is_valid": [p.is_valid for p in parsed],
            "reason": [p.reason for p in parsed],
            "is_known_range": [p.is_known_range for p in parsed],
            "normalised_at": pa.array([normalised_at] * len(parsed), pa.timestamp("us")),
            "first_loaded_at": pa.array([loaded for _, _, loaded in pairs], pa.timestamp("us")),
        })
        stage(con, "new_numbers", new_numbers)
        con.execute(f"insert into {PHONE_NUMBERS_TABLE} select * from new_numbers")
        unstage(con, "new_numbers")
    valid = sum(p.is_valid for p in parsed)
    return {"new_pairs": len(parsed), "valid": valid, "not_valid": len(parsed) - valid}


if __name__ == "__main__":  # `python -m orchestration.phone_numbers`: the step alone, for dbt runs by hand
    from orchestration.warehouse import connect

    connection = connect(memory_limit=PHONE_STEP_MEMORY_LIMIT)
    try:
        print(normalise_new_phone_numbers(connection))
    finally:
        connection.close()
