"""Phones are parsed to E.164 with `phonenumbers`, once per (raw phone, country) pair."""

from __future__ import annotations

import dagster as dg
import pytest

from conftest import Calls, load, query
from orchestration.identity.assets import phone_numbers
from orchestration.phone_numbers import normalise_phone

# The messy formats of docs/event-catalog.md, and the number each one is.
CATALOG_FORMATS = [
    ("(415) 555-0132", "US", "+14155550132"),
    ("+1 415-555-0132", "US", "+14155550132"),
    ("415.555.0132", "US", "+14155550132"),
    ("4155550132", "US", "+14155550132"),
    ("1 (397) 555-0154", "US", "+13975550154"),  # an unassigned area code: fictional, still linkable
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 20 7946 0958", "GB", "+442079460958"),
    ("+44 (0)20 7946 0958", "GB", "+442079460958"),
    (" 0044 113 496 0221", "GB", "+441134960221"),  # a leading space, international prefix 00
    ("+44 7700 900006", "GB", "+447700900006"),  # Ofcom's drama range
    ("0049 30 12345678", "DE", "+493012345678"),
    ("030 12345678", "DE", "+493012345678"),
    ("0061 8 7010 9009", "AU", "+61870109009"),  # Australia dials 0011, people still write 00
    ("+61 (0)3 7010 5433", "AU", "+61370105433"),
]


@pytest.mark.parametrize("raw, country, e164", CATALOG_FORMATS)
def test_catalog_formats_parse_to_one_e164(raw, country, e164):
    parsed = normalise_phone(raw, country)
    assert (parsed.e164, parsed.is_valid, parsed.reason) == (e164, True, None)


@pytest.mark.parametrize("raw, country, reason", [
    ("0000000000", "US", "placeholder_number"),
    ("0000000000", "GB", "placeholder_number"),
    ("12", "US", "impossible_number"),
    ("call me", "US", "unparseable"),
    ("415 555 0132", None, "missing_region"),
])
def test_numbers_that_cannot_link_people_say_why(raw, country, reason):
    parsed = normalise_phone(raw, country)
    assert (parsed.is_valid, parsed.reason) == (False, reason)


def test_the_asset_appends_each_new_pair_once(warehouse, tmp_path):
    calls = Calls()
    calls.identify(user_id="u1", traits={"phone": "(415) 555-0132", "country": "US"})
    calls.identify(user_id="u1", traits={"phone": "(415) 555-0132", "country": "US"})  # same pair again
    calls.identify(user_id="u2", traits={"phone": "0000000000", "country": "GB"})
    calls.identify(user_id="u3", traits={"email": "no-phone@example.com"})
    load(warehouse, calls.write(tmp_path / "1.jsonl"))  # load() runs the phone step too

    result = dg.materialize([phone_numbers])
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey(["raw", "phone_numbers"]), "the asset is the dbt source's key"
    assert event.materialization.metadata["new_pairs"].value == 0, "the pairs of the first load were parsed already"
    assert query(warehouse, "select raw_phone, country_code, e164, is_valid, reason from raw.phone_numbers order by 1") == [
        ("(415) 555-0132", "US", "+14155550132", True, None),
        ("0000000000", "GB", "+44000000000", False, "placeholder_number"),
    ]

    more = Calls()
    more.identify(user_id="u4", traits={"phone": "+1 415-555-0132", "country": "US"})
    from orchestration.ingest.loader import load_file
    from orchestration.warehouse import raw_layer

    with raw_layer(warehouse) as con:
        load_file(con, more.write(tmp_path / "2.jsonl"))
    result = dg.materialize([phone_numbers])
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert (metadata["new_pairs"].value, metadata["rows"].value) == (1, 3)
