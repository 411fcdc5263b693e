"""Identity resolution equals a union-find reference, exactly, on graphs of every shape."""

from __future__ import annotations

import random

import pytest

from conftest import Calls, UnionFind, customers_by_identifier, load, partition, query

# A limit no random identifier reaches: these tests are about connectivity, not sharing.
NO_SHARING_LIMIT = {"identity_max_people_per_identifier": 10**9}

EMAIL_STYLES = [str, str.upper, str.title, lambda e: "  " + e, lambda e: "\t" + e + " "]
US_PHONE_STYLES = ["+1 {a}-{b}-{c}", "({a}) {b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", " 1 ({a}) {b}-{c}"]


class GraphWriter:
    """Turns a graph over typed identifiers into Segment calls, one call per edge, and
    feeds every call to the union-find reference the same way: its identifiers are one."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.calls = Calls()
        self.reference = UnionFind()
        self.counter = 0

    def node(self, prefix: str) -> str:
        self.counter += 1
        kind = self.rng.choice(["anonymous_id", "user_id", "email", "phone"])
        if kind == "anonymous_id":
            return f"anonymous_id:{prefix}-a{self.counter}"
        if kind == "user_id":
            return f"user_id:{prefix}-u{self.counter}"
        if kind == "email":
            return f"email:{prefix}.{self.counter}@example.com"
        return f"phone:+1415555{self.counter % 10000:04d}" if self.counter < 10000 else f"anonymous_id:{prefix}-a{self.counter}"

    def edge(self, a: str, b: str) -> None:
        kinds = {a.split(":", 1)[0]: a.split(":", 1)[1], b.split(":", 1)[0]: b.split(":", 1)[1]}
        if a.split(":")[0] == b.split(":")[0]:
            # Same type: no single call carries two of one kind, so go through a fresh device.
            middle = f"anonymous_id:via-{self.counter}-{self.rng.random():.12f}" if not a.startswith("anonymous_id") else f"user_id:via-{self.counter}-{self.rng.random():.12f}"
            self.counter += 1
            self.edge(a, middle)
            self.edge(middle, b)
            return
        anonymous_id, user_id = kinds.get("anonymous_id"), kinds.get("user_id")
        if anonymous_id is None and user_id is None:
            # Every Segment call names a device or a user: an email-phone edge comes from a form.
            anonymous_id = f"form-{self.counter}-{self.rng.random():.12f}"
            self.counter += 1
            self.reference.link_all([a, f"anonymous_id:{anonymous_id}"])
        self.reference.link_all([a, b])
        traits = {}
        if "email" in kinds:
            traits["email"] = self.rng.choice(EMAIL_STYLES)(kinds["email"])
        if "phone" in kinds:
            digits = kinds["phone"][2:]
            traits["phone"] = self.rng.choice(US_PHONE_STYLES).format(a=digits[:3], b=digits[3:6], c=digits[6:])
            traits["country"] = "US"
        if traits:
            self.calls.identify(anonymous_id=anonymous_id, user_id=user_id, traits=traits)
        elif self.rng.random() < 0.2 and anonymous_id and user_id:
            self.calls.alias(anonymous_id, user_id)
        else:
            self.calls.track("page_viewed", anonymous_id=anonymous_id, user_id=user_id)

    def isolated(self, prefix: str) -> None:
        node = f"anonymous_id:{prefix}-alone{self.counter}"
        self.counter += 1
        self.reference.add(node)
        self.calls.track("session_started", anonymous_id=node.split(":", 1)[1])


def build_shapes(writer: GraphWriter, rng: random.Random) -> None:
    # Thousands of small random components (sparse random graphs).
    for c in range(3000):
        nodes = [writer.node(f"r{c}") for _ in range(rng.randint(1, 6))]
        if len(nodes) == 1:
            writer.reference.add(nodes[0])
            writer.edge(nodes[0], f"anonymous_id:r{c}-solo" if not nodes[0].startswith("anonymous_id") else f"user_id:r{c}-solo")
        for i in range(1, len(nodes)):
            writer.edge(nodes[i], nodes[rng.randrange(i)])  # a random spanning tree
        for _ in range(rng.randint(0, 3)):
            writer.edge(rng.choice(nodes), rng.choice(nodes)) if len(nodes) > 1 else None
    # Stars: one hub, many spokes.
    for s in range(5):
        hub = writer.node(f"star{s}")
        for _ in range(rng.randint(50, 200)):
            writer.edge(hub, writer.node(f"star{s}"))
    # Long chains, written in a shuffled order.
    for c in range(3):
        chain = [writer.node(f"chain{c}") for _ in range(rng.randint(500, 2000))]
        pairs = list(zip(chain, chain[1:]))
        rng.shuffle(pairs)
        for a, b in pairs:
            writer.edge(a, b)
    # Cycles, and two chains joined at both ends (a long cycle).
    for c in range(20):
        ring = [writer.node(f"ring{c}") for _ in range(rng.randint(3, 300))]
        for a, b in zip(ring, ring[1:] + ring[:1]):
            writer.edge(a, b)
    for _ in range(300):
        writer.isolated("iso")


@pytest.mark.parametrize("seed", [11, 29])
def test_customers_equal_union_find_on_random_graphs(warehouse, tmp_path, dbt, seed):
    rng = random.Random(seed)
    writer = GraphWriter(rng)
    build_shapes(writer, rng)
    load(warehouse, writer.calls.write(tmp_path / "graph.jsonl"))

    dbt.build(warehouse, variables=NO_SHARING_LIMIT)

    expected = writer.reference.groups()
    actual = partition(customers_by_identifier(warehouse))
    assert len(expected) > 3000, "the graph has thousands of components"
    assert actual == expected
    assert query(warehouse, "select count(*) from marts.excluded_identifiers") == [(0,)]


def test_chain_of_100k_identifiers_is_one_customer(warehouse, tmp_path, dbt):
    calls = Calls()
    n = 50_000  # anonymous ids and user ids alternate: 100,000 identifiers, diameter 99,999
    for i in range(n):
        calls.track("page_viewed", anonymous_id=f"dev{i:06d}", user_id=f"usr{i:06d}")
        if i + 1 < n:
            calls.track("page_viewed", anonymous_id=f"dev{i + 1:06d}", user_id=f"usr{i:06d}")
    load(warehouse, calls.write(tmp_path / "chain.jsonl"))

    dbt.build(warehouse, variables=NO_SHARING_LIMIT)

    assert query(warehouse, "select count(distinct customer_id), count(*) from marts.customer_identifiers") == [(1, 2 * n)]
    # The customer is named after its anchor, the identifier seen first.
    [(anchor,)] = query(warehouse, "select anchor_identifier from identity.int_identity__customer_map limit 1")
    assert anchor == "anonymous_id:dev000000"


def test_incremental_runs_equal_union_find_after_every_load(warehouse, tmp_path, dbt):
    """The graph arrives in three loads, each followed by an incremental build: new links
    merge components from earlier loads (chains joined end to end, stars joined to random
    components), and after every load the customers equal union-find over all calls so far."""
    rng = random.Random(7)
    writer = GraphWriter(rng)
    build_shapes(writer, rng)
    for part in range(3):
        if part:
            writer.calls = Calls(writer.calls.clock)
            placed = sorted(writer.reference.parent)
            for _ in range(400):  # links between identifiers of earlier loads: merges
                writer.edge(rng.choice(placed), rng.choice(placed))
            for _ in range(300):  # new identifiers hanging off earlier ones
                writer.edge(rng.choice(placed), writer.node(f"p{part}"))
            for _ in range(50):
                writer.isolated(f"p{part}")
        load(warehouse, writer.calls.write(tmp_path / f"part{part}.jsonl"))
        dbt.build(warehouse, variables=NO_SHARING_LIMIT)
        expected = writer.reference.groups()
        assert partition(customers_by_identifier(warehouse)) == expected, f"after load {part}"
    assert len(expected) > 1000
