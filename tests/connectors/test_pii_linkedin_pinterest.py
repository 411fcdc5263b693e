"""LinkedIn and Pinterest hashing rules, and the warehouse shortcut agreeing with them."""

import hashlib

import pytest

from connectors.pii import InvalidIdentifier, Platform, hash_identifier, sql_prehash

# Neither platform publishes an address with its digest, so the vectors are the rules applied
# to an address, checked against an independent SHA-256.
# LinkedIn, SHA256_EMAIL: "SHA256 hashed email" of the trimmed, lower-cased address:
#   https://learn.microsoft.com/en-us/linkedin/marketing/matched-audiences/create-and-manage-segment-users
# Pinterest, customer_lists records: "Emails must be lowercase and can be plain text or hashed using
#   SHA1, SHA256, or MD5" (CustomerListUpdateRequest.records, github.com/pinterest/api-description
#   v5/openapi.json; https://developers.pinterest.com/docs/api/v5/customer_lists-update/)
VECTORS = [(" Person@Example.com ", "person@example.com"), ("JOHN_SMITH@GMAIL.COM", "john_smith@gmail.com"),
           ("jane.doe+news@gmail.com", "jane.doe+news@gmail.com")]  # no Gmail rule: that one is Google's


@pytest.mark.parametrize("platform", [Platform.LINKEDIN, Platform.PINTEREST])
@pytest.mark.parametrize("raw, normalized", VECTORS)
def test_email_rule(platform, raw, normalized):
    assert hash_identifier("email", raw, platform) == hashlib.sha256(normalized.encode()).hexdigest()
    # Snap's published vector (the same trim + lower-case rule) as an external anchor
    assert hash_identifier("email", "Person@Example.com", platform) == \
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"


@pytest.mark.parametrize("platform", [Platform.LINKEDIN, Platform.PINTEREST])
def test_digests_pass_through_and_non_addresses_are_refused(platform):
    digest = hashlib.sha256(b"a@b.co").hexdigest()
    assert hash_identifier("email", digest.upper(), platform) == digest
    with pytest.raises(InvalidIdentifier):
        hash_identifier("email", "not-an-address", platform)


@pytest.mark.parametrize("platform", [Platform.LINKEDIN, Platform.PINTEREST])
def test_warehouse_email_hash_agrees_and_nothing_else_is_hashed(platform):
    import random

    import duckdb

    rng = random.Random(5)
    alphabet = "aZ09 .@+-_'!#\t\u00e9\u00c9" + "".join(chr(c) for c in range(32, 127))
    raws = ["person.one@example.com", "Person.One@Example.COM", " a@b.co", "a@b@c", "a@bco", "\u00e9l\u00e8ve@x.fr",
            hashlib.sha256(b"x").hexdigest()]
    raws += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) + "@" + rng.choice(["x.io", "Y.Com", "z"])
             for _ in range(400)]
    sql = sql_prehash("email", "v", platform)
    got = dict(duckdb.connect().execute(f"select v, {sql} from (select unnest(?::varchar[]) as v)", [raws]).fetchall())
    hashed = [raw for raw in raws if got[raw] != raw]
    assert len(hashed) > 100 and got["Person.One@Example.COM"] != "Person.One@Example.COM"
    for raw in hashed:
        assert got[raw] == hash_identifier("email", raw, platform), raw
    assert all(sql_prehash(kind, "v", platform) is None for kind in ("phone", "first_name", "last_name"))
