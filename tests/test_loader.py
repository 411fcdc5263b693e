"""`throughline load`: idempotent by messageId, every bad row rejected with its reason,
and rows read = loaded + duplicates + rejected for every file and format, on each engine."""

import gzip
import json
from pathlib import Path

from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.cli import main
from orchestration.ingest.loader import load_file
from orchestration.warehouse import raw_layer


def call(message_id: str, **fields) -> dict:
    base = {
        "type": "track",
        "messageId": message_id,
        "userId": "user-1",
        "event": "purchase_made",
        "timestamp": "2026-03-01T10:00:00Z",
        "properties": {"order_id": f"order-{message_id}", "revenue": 12.5},
        "context": {"timezone": "Europe/Berlin", "device": {"id": "d1", "type": "ios"}},
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


GOOD = [
    call("t1"),
    call("t2", userId=None, anonymousId="anon-1"),
    call("t3", userId=42),  # numeric ids are accepted as strings
    {"type": "identify", "messageId": "i1", "anonymousId": "anon-1", "userId": "user-1",
     "traits": {"email": " Ada@Example.COM "}, "timestamp": "2026-03-01T09:00:00.250+01:00"},
    {"type": "page", "messageId": "p1", "anonymousId": "anon-1", "name": "Pricing",
     "properties": {"path": "/pricing"}, "timestamp": "2026-03-01T08:00:00"},
    {"type": "alias", "messageId": "a1", "previousId": "anon-1", "userId": "user-1",
     "originalTimestamp": "2026-03-01T08:30:00Z"},
]

# (line as written to the file, the reason code it must be rejected with)
BAD = [
    ('{"type": "track", "messageId": "b1", "userId": "u", "event": "x", "timestamp": ', "broken_json"),
    ('["not", "an", "object"]', "not_an_object"),
    (json.dumps(call(None)), "missing_message_id"),
    (json.dumps(call("b4", type="screen")), "unknown_type"),
    (json.dumps(call("b5", userId=None)), "missing_identity"),
    (json.dumps(call("b6", timestamp=None)), "missing_timestamp"),
    (json.dumps(call("b7", timestamp="last tuesday")), "unparseable_timestamp"),
    (json.dumps(call("b8", timestamp="1970-01-01T00:00:00Z")), "implausible_timestamp"),
    (json.dumps(call("b9", event="  ")), "missing_event_name"),
    (json.dumps({"type": "alias", "messageId": "b10", "userId": "u", "timestamp": "2026-03-01T08:30:00Z"}), "incomplete_alias"),
    (json.dumps(call("b11", properties=["a", "list"])), "bad_field_type"),
    (json.dumps(call("b12", userId={"id": 1})), "bad_identifier"),
]


def json_valid(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def raw_counts() -> tuple[int, int]:
    with raw_layer() as con:
        return con.execute("select (select count(*) from raw.events), (select count(*) from raw.rejects)").fetchone()


def test_good_and_bad_rows_are_counted_and_each_reject_has_its_reason(engine, tmp_path):
    lines = [json.dumps(c) for c in GOOD] + [line for line, _ in BAD]
    source = write_jsonl(tmp_path / "mixed.jsonl", lines)

    with raw_layer() as con:
        result = load_file(con, source)
        rejects = con.execute("select source_line, reason_code, reason, source_file from raw.rejects order by source_line").fetchall()

    assert (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_rejected) == (len(GOOD) + len(BAD), len(GOOD), 0, len(BAD))
    assert [code for _, code, _, _ in rejects] == [code for _, code in BAD]
    assert [line for line, _, _, _ in rejects] == list(range(len(GOOD) + 1, len(GOOD) + len(BAD) + 1))
    assert all(file == str(source.resolve()) for *_, file in rejects)
    assert all(len(reason) > 15 for _, _, reason, _ in rejects), "every reason is a sentence, not just a code"


def test_loading_the_same_file_twice_changes_nothing(engine, tmp_path):
    lines = [json.dumps(c) for c in GOOD] + [line for line, _ in BAD]
    source = write_jsonl(tmp_path / "mixed.jsonl", lines)
    with raw_layer() as con:
        load_file(con, source)
    before = raw_counts()

    with raw_layer() as con:
        again = load_file(con, source)

    assert raw_counts() == before == (len(GOOD), len(BAD))
    assert (again.rows_loaded, again.rows_duplicate, again.rows_rejected) == (0, len(GOOD), len(BAD))


def test_repeats_within_a_file_keep_the_first(engine, tmp_path):
    first = call("dup", properties={"revenue": 1})
    second = call("dup", properties={"revenue": 2})
    source = write_jsonl(tmp_path / "dups.jsonl", [json.dumps(first), json.dumps(second), json.dumps(call("other"))])
    with raw_layer() as con:
        result = load_file(con, source)
        kept = con.execute("select properties, source_line from raw.events where message_id = 'dup'").fetchall()
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate) == (3, 2, 1)
    assert kept == [('{"revenue":1}', 1)]


def test_timestamps_are_stored_in_utc(engine, tmp_path):
    source = write_jsonl(tmp_path / "tz.jsonl", [json.dumps(c) for c in GOOD])
    with raw_layer() as con:
        load_file(con, source)
        stored = dict(con.execute("select message_id, occurred_at from raw.events").fetchall())
    assert stored["i1"] == datetime(2026, 3, 1, 8, 0, 0, 250_000)  # +01:00 converted
    assert stored["p1"] == datetime(2026, 3, 1, 8)  # no offset: taken as UTC
    assert stored["a1"] == datetime(2026, 3, 1, 8, 30)  # originalTimestamp when timestamp is absent


def test_csv_gzip_and_parquet_load_like_jsonl(engine, tmp_path):
    rows = [
        {"type": "track", "message_id": "c1", "user_id": "u1", "event": "cart_added",
         "timestamp": "2026-03-02T12:00:00Z", "properties": json.dumps({"sku": "A"}), "context.timezone": "Asia/Tokyo"},
        {"type": "track", "message_id": "c2", "user_id": "", "event": "cart_added",
         "timestamp": "2026-03-02T12:00:00Z", "properties": "{}", "context.timezone": ""},
        {"type": "track", "message_id": "c3", "user_id": "u1", "event": "cart_added",
         "timestamp": "2026-03-02T12:00:00Z", "properties": "{broken", "context.timezone": ""},
    ]
    csv_path = tmp_path / "calls.csv"
    header = list(rows[0])
    with open(csv_path, "w", newline="") as f:
        import csv

        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)

    gz_path = tmp_path / "calls.jsonl.gz"
    with gzip.open(gz_path, "wt") as f:
        f.write(json.dumps(call("g1")) + "\n" + json.dumps(call("g2")) + "\n")

    parquet_path = tmp_path / "calls.parquet"
    pq.write_table(pa.table({
        "type": ["track", "identify"],
        "messageId": ["q1", "q2"],
        "userId": ["u1", "u2"],
        "event": ["purchase_made", None],
        "timestamp": pa.array([1772400000000000, 1772400000000000], pa.timestamp("us", tz="UTC")),
        "traits": [None, {"email": "x@example.com"}],
    }), parquet_path)

    with raw_layer() as con:
        from_csv = load_file(con, csv_path)
        from_gz = load_file(con, gz_path)
        from_parquet = load_file(con, parquet_path)
        csv_row = con.execute("select properties, context from raw.events where message_id = 'c1'").fetchone()
        traits = con.execute("select traits, occurred_at from raw.events where message_id = 'q2'").fetchone()
        reasons = con.execute("select source_line, reason_code from raw.rejects order by 1").fetchall()

    assert (from_csv.rows_read, from_csv.rows_loaded, from_csv.rows_rejected) == (3, 1, 2)
    assert reasons == [(3, "missing_identity"), (4, "broken_json")]  # CSV lines count the header
    assert json.loads(csv_row[0]) == {"sku": "A"} and json.loads(csv_row[1]) == {"timezone": "Asia/Tokyo"}
    assert (from_gz.rows_read, from_gz.rows_loaded) == (2, 2)
    assert (from_parquet.rows_read, from_parquet.rows_loaded) == (2, 2)
    assert json.loads(traits[0]) == {"email": "x@example.com"}
    assert str(traits[1]) == "2026-03-01 21:20:00"


def test_cli_prints_counts_and_refuses_missing_or_unsupported_files(engine, tmp_path, capsys):
    source = write_jsonl(tmp_path / "mixed.jsonl", [json.dumps(c) for c in GOOD] + [BAD[0][0]])
    assert main(["load", str(source)]) == 0
    out = capsys.readouterr().out
    assert "mixed.jsonl" in out and "raw.rejects" in out
    assert [int(n) for n in out.splitlines()[-2].split()[-4:]] == [len(GOOD) + 1, len(GOOD), 0, 1]

    assert main(["load", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err

    (tmp_path / "notes.txt").write_text("hello")
    assert main(["load", str(tmp_path / "notes.txt")]) == 2
    assert "unsupported file type" in capsys.readouterr().err

    assert main(["load", str(tmp_path / "mixed.jsonl"), str(tmp_path)]) == 0  # a folder loads its supported files
    counts = [[int(n) for n in line.split()[-4:]] for line in capsys.readouterr().out.splitlines() if line.startswith("mixed.jsonl")]
    assert counts == [[len(GOOD) + 1, 0, len(GOOD), 1]] * 2, "a file given twice is loaded twice: all duplicates"
    assert raw_counts() == (len(GOOD), 1)


def test_loads_table_reconciles(engine, tmp_path):
    source = write_jsonl(tmp_path / "mixed.jsonl", [json.dumps(c) for c in GOOD] + [line for line, _ in BAD])
    with raw_layer() as con:
        load_file(con, source)
        load_file(con, source)
        rows = con.execute("select rows_read, rows_loaded, rows_duplicate, rows_rejected from raw.loads").fetchall()
    assert len(rows) == 2
    assert all(read == loaded + dup + rejected for read, loaded, dup, rejected in rows)


def test_duckdbs_json_reader_and_the_line_reader_check_a_file_alike(engine, tmp_path):
    """A file of JSON objects is checked through DuckDB's JSON reader; one with a blank or
    broken line, line by line (orchestration.ingest.loader). Both give the same rows, rejects
    (text and ids included) and counts, repeats across the file included."""
    from tests.engines import environment, selected

    repeat = call("t1", properties={"revenue": 99})  # a later repeat of t1: the first is kept
    objects = [json.dumps(c) for c in GOOD] + [line for line, _ in BAD if line.startswith("{") and json_valid(line)] + [json.dumps(repeat)]

    def load(warehouse: str, lines: list[str]) -> tuple:
        source = write_jsonl(tmp_path / "calls.jsonl", lines)
        with environment(selected(tmp_path / warehouse)), raw_layer() as con:
            result = load_file(con, source)
            events = con.execute("select message_id, type, event, name, user_id, anonymous_id, previous_id, occurred_at, "
                                 "properties, traits, context, source_file, source_line from raw.events order by source_line").fetchall()
            rejects = con.execute("select reject_id, source_file, source_line, reason_code, reason, payload "
                                  "from raw.rejects order by source_line").fetchall()
        return (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_rejected), events, rejects

    by_json_reader = load("a.duckdb", objects)
    by_lines = load("b.duckdb", objects + [""])  # a blank last line: read line by line, no line renumbered

    assert by_json_reader == by_lines
    counts, events, rejects = by_json_reader
    assert counts == (len(objects), len(GOOD), 1, len(objects) - len(GOOD) - 1)
    assert [row[-1] for row in events] == list(range(1, len(GOOD) + 1))
    assert [payload for *_, payload in rejects] == objects[len(GOOD):-1], "each reject keeps its line's text"


def test_lines_keep_their_numbers_past_blank_lines_and_lines_that_are_not_utf8(engine, tmp_path):
    """Blank lines are no calls but keep their numbers; a line that is not UTF-8, or holds a
    NUL byte, is rejected with its number, and the lines after it keep theirs."""
    source = tmp_path / "numbered.jsonl"
    source.write_bytes(b"\n".join([
        json.dumps(call("n1")).encode(),
        b"",
        b"   ",
        b'{"type": "track", "messageId": "latin-1", "userId": "Jos\xe9", "event": "x", "timestamp": "2026-03-01T10:00:00Z"}',
        json.dumps(call("n5")).encode(),
        b'{"type": "track", "messageId": "nul", \x00 "userId": "u"}',
        json.dumps(call("n7")).encode() + b"\r",  # a CRLF line
    ]) + b"\n")
    with raw_layer() as con:
        result = load_file(con, source)
        events = con.execute("select message_id, source_line from raw.events order by source_line").fetchall()
        rejects = con.execute("select source_line, reason_code, reason from raw.rejects order by source_line").fetchall()
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_rejected) == (5, 3, 0, 2)
    assert events == [("n1", 1), ("n5", 5), ("n7", 7)]
    assert [(line, code) for line, code, _ in rejects] == [(4, "broken_json"), (6, "broken_json")]
    assert "UTF-8" in rejects[0][2] and "NUL" in rejects[1][2]


def test_every_rule_of_the_spec_holds_for_edge_values(engine, tmp_path):
    """Values at the edges of each rule: what is kept, how, and the reason of what is not."""
    accepted = [
        call("e1", userId=" padded ", event=" trimmed "),  # ids and event names are stripped
        call("e2", anonymousId="", userId="u"),  # a blank id is absent, the other one suffices
        call("e3", timestamp="", originalTimestamp="2026-03-01T10:00:00+02:00"),  # a falsy timestamp falls back
        call("e4", properties=None, context={}),  # null is absent; an empty object is kept
        {"type": "page", "messageId": "e5", "userId": "u", "name": 7, "timestamp": "2026-03-01T10:00:00Z"},  # a non-string name is dropped
        call("e6", userId=True, anonymousId="a"),  # a boolean id is absent
    ]
    rejected = [
        (call("r1", messageId=1.5), "bad_identifier", "messageId must be a string or integer, got float"),
        (call("r2", anonymousId=["a"]), "bad_identifier", "anonymousId must be a string or integer, got list"),
        (call("r3", type=7), "unknown_type", "type 7 is not one of track, identify, page, alias"),
        (call("r4", timestamp=1772400000), "unparseable_timestamp", "timestamp must be an ISO 8601 string, got 1772400000"),
        (call("r5", timestamp="2100-01-01T00:00:00Z"), "implausible_timestamp", "is outside 2000-2099"),
        (call("r6", context="Europe/Berlin"), "bad_field_type", "context must be a JSON object, got str"),
        (call("r7", traits=3), "bad_field_type", "traits must be a JSON object, got int"),
        ({"type": "alias", "messageId": "r8", "userId": "u", "previousId": {"id": 1}, "timestamp": "2026-03-01T10:00:00Z"},
         "bad_identifier", "previousId must be a string or integer, got dict"),
        (call("r9", messageId="  "), "missing_message_id", "no messageId"),
        ("42", "not_an_object", "got int"),
    ]
    lines = [json.dumps(c) for c in accepted] + [c if isinstance(c, str) else json.dumps(c) for c, _, _ in rejected]
    with raw_layer() as con:
        result = load_file(con, write_jsonl(tmp_path / "edges.jsonl", lines))
        events = {row[0]: row[1:] for row in con.execute(
            "select message_id, user_id, anonymous_id, event, name, properties, context, occurred_at from raw.events").fetchall()}
        rejects = con.execute("select reason_code, reason from raw.rejects order by source_line").fetchall()
    assert (result.rows_loaded, result.rows_rejected) == (len(accepted), len(rejected))
    assert events["e1"][0] == "padded" and events["e1"][2] == "trimmed"
    assert events["e2"][:2] == ("u", None)
    assert events["e3"][-1] == datetime(2026, 3, 1, 8)
    assert events["e4"][-3:-1] == (None, "{}")
    assert events["e5"][3] is None
    assert events["e6"][:2] == (None, "a")
    for (code, reason), (_, expected_code, expected_reason) in zip(rejects, rejected):
        assert code == expected_code and expected_reason in reason, (code, reason)


def test_files_loaded_together_count_each_file_and_keep_the_first_of_a_repeat_across_files(engine, tmp_path, monkeypatch):
    """A load's JSON Lines files are checked together (one read_json for a chunk of files),
    a file that cannot be read so falls back to its own check, and chunks are cut by size:
    each file still gets its own counts, line numbers and load row, and a call repeated in a
    later file is that file's duplicate, as when the files are loaded one by one."""
    from orchestration.ingest import loader
    from orchestration.ingest.loader import load_files

    first = write_jsonl(tmp_path / "1.jsonl", [json.dumps(call("x")), json.dumps(call("only-1"))])
    second = write_jsonl(tmp_path / "2.jsonl", [json.dumps(call("x")), "", json.dumps(call("y")), json.dumps(call("y"))])  # a blank line
    third = write_jsonl(tmp_path / "3.jsonl", [json.dumps(call("y", userId=None)), json.dumps(call("z"))])  # a reject, then z

    def load(chunk_bytes: int) -> tuple:
        monkeypatch.setattr(loader, "CHUNK_BYTES", chunk_bytes)
        with raw_layer() as con:
            con.execute("delete from raw.events; delete from raw.rejects; delete from raw.loads")
            results = [(r.rows_read, r.rows_loaded, r.rows_duplicate, r.rows_rejected) for r in load_files(con, [first, second, third])]
            events = con.execute("select message_id, source_file, source_line from raw.events order by 1, 2, 3").fetchall()
            logged = con.execute("select source_file, rows_read, rows_loaded, rows_duplicate, rows_rejected from raw.loads order by 1").fetchall()
            rejects = con.execute("select source_file, source_line, reason_code, payload from raw.rejects").fetchall()
        return results, events, logged, rejects

    together = load(1 << 30)
    assert together == load(1), "a file per chunk loads the same"
    results, events, logged, rejects = together
    assert results == [(2, 2, 0, 0), (3, 1, 2, 0), (2, 1, 0, 1)]
    assert [(m, Path(f).name, line) for m, f, line in events] == [
        ("only-1", "1.jsonl", 2), ("x", "1.jsonl", 1), ("y", "2.jsonl", 3), ("z", "3.jsonl", 2)]
    assert [row[1:] for row in logged] == results
    assert [(Path(f).name, line, code, json.loads(payload)["messageId"]) for f, line, code, payload in rejects] == [("3.jsonl", 1, "missing_identity", "y")]


def test_a_csv_row_with_more_fields_than_the_header_and_an_oversize_line_are_rejected(engine, tmp_path):
    """The two reasons DuckDB's CSV reader gives: a row with an extra field (CSV) and a line
    over its 2 MB limit (a JSON Lines file read line by line: it has a blank line)."""
    csv_path = tmp_path / "extra.csv"
    csv_path.write_text("type,message_id,user_id,event,timestamp\n"
                        "track,x1,u1,cart_added,2026-03-02T12:00:00Z\n"
                        "track,x2,u1,cart_added,2026-03-02T12:00:00Z,surplus\n"
                        "track,x3,u1,cart_added,2026-03-02T12:00:00Z\n")
    big = json.dumps(call("big", properties={"blob": "x" * (3 << 20)}))
    jsonl_path = write_jsonl(tmp_path / "big.jsonl", [json.dumps(call("s1")), "", big, json.dumps(call("s2"))])
    with raw_layer() as con:
        from_csv = load_file(con, csv_path)
        from_jsonl = load_file(con, jsonl_path)
        rejects = con.execute("select source_line, reason_code from raw.rejects order by source_file, source_line").fetchall()
        events = con.execute("select message_id, source_line from raw.events order by 1").fetchall()
    assert (from_csv.rows_read, from_csv.rows_loaded, from_csv.rows_rejected) == (3, 2, 1)
    assert (from_jsonl.rows_read, from_jsonl.rows_loaded, from_jsonl.rows_rejected) == (3, 2, 1)
    assert sorted(rejects) == [(3, "bad_csv_row"), (3, "oversize_call")]
    assert events == [("s1", 1), ("s2", 4), ("x1", 2), ("x3", 4)]
