"""Identifiers shared by too many people are not used to link, are listed with the
reason, and the rest of the graph still resolves."""

from __future__ import annotations

from conftest import Calls, UnionFind, customers_by_identifier, load, partition, query

LIMIT = 3


def test_identifier_over_the_limit_is_excluded_and_the_rest_resolves(warehouse, tmp_path, dbt):
    calls = Calls()
    reference = UnionFind()

    def person(n: int, *, email: str, device: str | None = None, phone: str | None = None) -> None:
        device = device or f"dev-{n}"
        traits = {"email": email} | ({"phone": phone, "country": "GB"} if phone else {})
        calls.identify(anonymous_id=device, user_id=f"usr-{n}", traits=traits)
        calls.track("session_started", anonymous_id=f"phone-of-{n}", user_id=f"usr-{n}")

    # LIMIT + 1 people sign up with the same QA address: it must not merge them.
    for n in range(LIMIT + 1):
        person(n, email="qa@shop.example")
    # Exactly LIMIT people share a family tablet: at the limit, it still links them.
    for n in range(10, 10 + LIMIT):
        person(n, email=f"p{n}@example.com", device="family-tablet")
    # Placeholder values that link nobody, whatever the count: a blocklisted device id
    # and an all-zero phone (two people each, below the limit).
    for n in (20, 21):
        person(n, email=f"p{n}@example.com", device="null", phone="0000000000")
    # Ordinary people with phones in messy formats: one number, written two ways.
    person(30, email="p30@example.com", phone="020 7946 0958")
    calls.identify(user_id="usr-31", anonymous_id="dev-31", traits={"phone": "+44 (0)20 7946 0958", "country": "GB"})
    load(warehouse, calls.write(tmp_path / "calls.jsonl"))

    dbt.build(warehouse, variables={"identity_max_people_per_identifier": LIMIT})

    excluded = {(t, v): (reason, people) for t, v, reason, people in query(
        warehouse, "select identifier_type, identifier_value, exclusion_reason, linked_people from marts.excluded_identifiers")}
    assert excluded == {
        ("email", "qa@shop.example"): ("shared_by_too_many", LIMIT + 1),
        ("anonymous_id", "null"): ("blocklisted", 2),
        ("phone", "+44000000000"): ("invalid_phone", 2),
    }

    # The reference: union-find over every call, leaving out the excluded identifiers.
    unlinkable = {f"{t}:{v}" for t, v in excluded}
    for n in list(range(LIMIT + 1)) + list(range(10, 10 + LIMIT)) + [20, 21, 30]:
        device = "family-tablet" if 10 <= n < 10 + LIMIT else ("null" if n in (20, 21) else f"dev-{n}")
        email = "qa@shop.example" if n <= LIMIT else f"p{n}@example.com"
        ids = [f"anonymous_id:{device}", f"user_id:usr-{n}", f"email:{email}"]
        reference.link_all([i for i in ids if i not in unlinkable])
        reference.link_all([f"anonymous_id:phone-of-{n}", f"user_id:usr-{n}"])
    reference.link_all(["user_id:usr-30", "phone:+442079460958"])
    reference.link_all(["user_id:usr-31", "anonymous_id:dev-31", "phone:+442079460958"])

    actual = customers_by_identifier(warehouse)
    assert not unlinkable & set(actual), "excluded identifiers belong to no customer"
    assert partition(actual) == reference.groups()
    # The QA-address sign-ups stay four customers; the family tablet joins three into one.
    assert len({actual[f"user_id:usr-{n}"] for n in range(LIMIT + 1)}) == LIMIT + 1
    assert len({actual[f"user_id:usr-{n}"] for n in range(10, 10 + LIMIT)}) == 1
    assert actual["user_id:usr-30"] == actual["user_id:usr-31"], "one number in two formats links"


def test_a_customer_splits_and_rejoins_as_its_shared_identifier_crosses_the_limit(warehouse, tmp_path, dbt):
    """Incremental builds follow the limit both ways: at the limit a shared address links
    its people into one customer; with the limit lowered (nothing new loaded) it is
    excluded and they split; raised again, it links them again; one more sign-up with it
    in a later load excludes it for good."""
    first, later = Calls(), Calls()
    for n in range(LIMIT):
        first.identify(anonymous_id=f"dev-{n}", user_id=f"usr-{n}", traits={"email": "family@example.com"})
    later.identify(anonymous_id=f"dev-{LIMIT}", user_id=f"usr-{LIMIT}", traits={"email": "family@example.com"})

    def people(limit: int) -> set[frozenset[str]]:
        dbt.build(warehouse, variables={"identity_max_people_per_identifier": limit})
        return partition(customers_by_identifier(warehouse))

    def apart(count: int) -> set[frozenset[str]]:
        return {frozenset({f"anonymous_id:dev-{n}", f"user_id:usr-{n}"}) for n in range(count)}

    load(warehouse, first.write(tmp_path / "first.jsonl"))
    together = {frozenset({"email:family@example.com"} | set().union(*apart(LIMIT)))}
    assert people(LIMIT) == together
    assert people(LIMIT - 1) == apart(LIMIT), "excluded under the lower limit: the customer splits"
    assert people(LIMIT) == together, "at the limit again it links them again"

    load(warehouse, later.write(tmp_path / "later.jsonl"))
    assert people(LIMIT) == apart(LIMIT + 1)
