"""The Segment Spec's rules for a call (track, identify, page, alias), as one DuckDB query.

`check_sql(fields)` validates every row of a relation of calls' fields, each a JSON value
(`fields_from_lines` parses them from lines of text, `fields_from_json_lines` takes them
from DuckDB's JSON reader; read_code / read_reason are set when the reader already refused
the row), all at once: each row comes out either as a raw.events row or with a
machine-readable reason_code and a reason, the first problem found in the order below.
Nothing is silently dropped or repaired beyond what the spec allows. Each field is judged
by its JSON text, whose first character gives its type.
"""

from __future__ import annotations

CALL_TYPES = ("track", "identify", "page", "alias")
PAYLOAD_LIMIT = 2000  # characters of an offending row kept in raw.rejects

# Plausibility bounds (UTC): a timestamp outside them is a broken client clock or a unit
# mistake (seconds read as years), not an event worth deciding on.
EARLIEST, LATEST = "2000-01-01", "2100-01-01"

FIELDS = ("messageId", "type", "userId", "anonymousId", "previousId", "event", "name",
          "timestamp", "originalTimestamp", "properties", "traits", "context")
OBJECT_FIELDS = ("properties", "traits", "context")  # stored as JSON text

# What Python's str.strip() takes off an id or event name, ASCII part (DuckDB's trim takes spaces only).
WHITESPACE = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def _string(j: str) -> str:
    """The value of a JSON string `j`, stripped of leading and trailing whitespace as Python's
    str.strip() does (its ASCII part). The common case, no escape and no space at either end,
    is cut out of the JSON text: unquoting every value with ->> and DuckDB's trim with a set
    of characters are the slowest part of a check."""
    return (f"case when contains({j}, '\\') or starts_with({j}, '\" ') or ends_with({j}, ' \"') "
            f"then trim({j} ->> '$', {WHITESPACE}) else {j}[2:-2] end")


def _j(field: str) -> str:
    return f'"j_{field}"'


def _type_name(j: str) -> str:
    """The Python type name of a JSON value, as the reasons name it."""
    return (f"case left({j}, 1) when '{{' then 'dict' when '[' then 'list' when '\"' then 'str' "
            f"when 't' then 'bool' when 'f' then 'bool' when 'n' then 'NoneType' "
            f"else case when regexp_full_match({j}, '-?[0-9]+') then 'int' else 'float' end end")


def _identifier(field: str) -> tuple[str, str]:
    """(value, error) of an id: a string (stripped, blank means absent) or an integer (as
    text); null and booleans mean absent; anything else is an error."""
    j = _j(field)
    value = (f"case when starts_with({j}, '\"') then nullif({_string(j)}, '') "
             f"when regexp_full_match({j}, '-?[0-9]+') then {j}::varchar end")
    error = (f"case when starts_with({j}, '\"') or {j} is null or {j} in ('null', 'true', 'false') "
             f"or regexp_full_match({j}, '-?[0-9]+') then null "
             f"else '{field} must be a string or integer, got ' || {_type_name(j)} end")
    return value, error


def _object(field: str) -> tuple[str, str]:
    """(JSON text, error) of properties, traits or context: a JSON object, or absent."""
    j = _j(field)
    value = f"case when starts_with({j}, '{{') then {j} end"
    error = (f"case when starts_with({j}, '{{') or {j} is null or {j} = 'null' then null "
             f"else '{field} must be a JSON object, got ' || {_type_name(j)} end")
    return value, error


# Python's `timestamp or originalTimestamp`: a falsy timestamp falls back to the other.
# (The common case first: a non-empty string.)
_TIMESTAMP = (f"case when starts_with({_j('timestamp')}, '\"') and {_j('timestamp')} <> '\"\"' then {_j('timestamp')} "
              f"when {_j('timestamp')} is null or {_j('timestamp')} in ('null', 'false', '\"\"', '[]', '{{}}') "
              f"or regexp_full_match({_j('timestamp')}, '-?0(\\.0+)?') then {_j('originalTimestamp')} else {_j('timestamp')} end")


# A reject's text (a NUL byte shown as U+FFFD: PostgreSQL text cannot hold it), and its
# id: the same file, line and text make the same id.
PAYLOAD = f"replace(left(rtrim(line, chr(13)), {PAYLOAD_LIMIT}), chr(0), chr(65533))"


REJECT_ID = f"left(sha256(source_file || chr(0) || line_no || chr(0) || {PAYLOAD}), 32)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_TYPES_AS_JSON = ", ".join(f"'\"{t}\"'" for t in CALL_TYPES)


def fields_from_lines(lines: str, source_file: str, line_offset: int) -> str:
    """The fields of each call of a relation of (line_no, line, read_code, read_reason) from
    one file, parsed from its text (json_extract of every field at once; a line that is not
    JSON gets parsed = false). A blank line is no call and is left out; the lines after it
    keep their numbers. `seq` orders the calls of a load: line_offset + line_no."""
    extracted = ", ".join(f"f[{i}] as {_j(field)}" for i, field in enumerate(FIELDS, start=1))
    paths = ", ".join(f"'$.\"{field}\"'" for field in FIELDS)
    return f"""(
    select {_literal(source_file)} as source_file, line_no, {line_offset} + line_no as seq,
           line, read_code, read_reason, f is not null as parsed, {extracted}
    from (select *, case when read_code is null then try(json_extract(line, [{paths}])) end as f from {lines})
    where f is not null or read_code is not null or trim(coalesce(line, ''), {WHITESPACE}) <> ''
)"""


def fields_from_json_lines(read_json: str, files: str) -> str:
    """The same from DuckDB's own JSON Lines reader, `read_json` of one or more files (with
    filename = true) and every field as a JSON column, which is faster than parsing text.
    Rows are numbered in the files' order; `files` (source_file; read_offset: the lines read
    before the file in this read_json; line_offset: in the load) turns that number into the
    line's, and seq. That reader skips blank lines,
    gives a row of nulls for a line it cannot parse, and has no line text: the loader uses
    it only for files where those cannot matter, and takes each reject's text from the
    lines afterwards (orchestration.ingest.loader)."""
    fields = ", ".join(f"{_j(field)}" for field in FIELDS)
    return f"""(
    select call.source_file, row - files.read_offset as line_no, row - files.read_offset + files.line_offset as seq,
           null::varchar as line, null::varchar as read_code, null::varchar as read_reason,
           coalesce({fields}) is not null as parsed, {fields}
    from (select row_number() over () as row, * from {read_json}) as call (row, {fields}, source_file)
    join {files} as files on files.source_file = call.source_file
)"""


def read_json_columns() -> str:
    """The `columns` argument of read_json for fields_from_json_lines."""
    return "{" + ", ".join(f"'{field}': 'JSON'" for field in FIELDS) + "}"


def check_sql(fields: str) -> str:
    """A query of `fields` (fields_from_lines or fields_from_json_lines) giving every row with
    its file, line and seq, the raw.events columns, reason_code, reason, payload and reject_id."""
    ids = {field: _identifier(field) for field in ("messageId", "userId", "anonymousId", "previousId")}
    objects = {field: _object(field) for field in OBJECT_FIELDS}
    checks = [  # (test, reason_code, reason), the first that holds wins
        ("read_code is not null", "read_code", "read_reason"),
        ("not parsed", "'broken_json'", "'line is not valid JSON'"),
        # only a call without messageId can be a non-object (which has no fields at all)
        (f"{_j('messageId')} is null and json_type(line) <> 'OBJECT'", "'not_an_object'",
         "'a call must be a JSON object, got ' || " + _type_name("json(line)::varchar")),
        ("messageId_error is not null", "'bad_identifier'", "messageId_error"),
        ("message_id is null", "'missing_message_id'", "'no messageId: the call cannot be deduplicated'"),
        ("type is null", "'unknown_type'", f"'type ' || coalesce(left({_j('type')}, 40), 'None') || ' is not one of {', '.join(CALL_TYPES)}'"),
        ("userId_error is not null", "'bad_identifier'", "userId_error"),
        ("anonymousId_error is not null", "'bad_identifier'", "anonymousId_error"),
        ("user_id is null and anonymous_id is null", "'missing_identity'", "'neither userId nor anonymousId is set'"),
        ("type = 'track' and event is null", "'missing_event_name'", "'a track call needs a non-empty event name'"),
        ("type = 'alias' and previousId_error is not null", "'bad_identifier'", "previousId_error"),
        ("type = 'alias' and (previous_id is null or user_id is null)", "'incomplete_alias'", "'an alias call needs both previousId and userId'"),
        ("ts is null or ts in ('null', '\"\"')", "'missing_timestamp'", "'no timestamp (nor originalTimestamp)'"),
        ("not starts_with(ts, '\"')", "'unparseable_timestamp'", "'timestamp must be an ISO 8601 string, got ' || left(ts, 60)"),
        ("occurred_at is null", "'unparseable_timestamp'", "'timestamp is not ISO 8601: ' || left(ts, 60)"),
        (f"not (occurred_at >= timestamp '{EARLIEST}' and occurred_at < timestamp '{LATEST}')",
         "'implausible_timestamp'", "'timestamp ' || left(ts, 60) || ' is outside 2000-2099'"),
    ] + [(f"{field}_error is not null", "'bad_field_type'", f"{field}_error") for field in OBJECT_FIELDS]
    rejection = "case " + "\n            ".join(f"when {test} then {{'code': {code}, 'reason': {text}}}" for test, code, text in checks) + " end"
    return f"""
with fields as (select * from {fields}),
typed as (
    select *,
        {", ".join(f"{value} as {column}, {error} as {field}_error" for field, column, (value, error) in
                   [(f, c, ids[f]) for f, c in (("messageId", "message_id"), ("userId", "user_id"), ("anonymousId", "anonymous_id"), ("previousId", "previous_id"))])},
        {", ".join(f"{value} as {field}, {error} as {field}_error" for field, (value, error) in objects.items())},
        case when {_j('type')} in ({_TYPES_AS_JSON}) then {_j('type')} ->> '$' end as type,
        case when starts_with({_j('event')}, '"') then nullif({_string(_j('event'))}, '') end as event,
        case when starts_with({_j('name')}, '"') then {_j('name')} ->> '$' end as name,
        {_TIMESTAMP} as ts
    from fields
),
timed as (
    -- a timestamp without an offset is UTC (the loader's session time zone)
    select *, cast(try_cast({_string('ts')} as timestamptz) as timestamp) as occurred_at
    from typed
),
checked as (
    select *,
        {rejection} as rejection
    from timed
)
select
    source_file, line_no, seq, message_id, type,
    case when type = 'track' then event end as event,
    case when type = 'page' then name end as name,
    user_id, anonymous_id,
    case when type = 'alias' then previous_id end as previous_id,
    occurred_at, properties, traits, context,
    rejection.code as reason_code,
    rejection.reason as reason,
    case when rejection is not null then {PAYLOAD} end as payload,
    case when rejection is not null then {REJECT_ID} end as reject_id
from checked
"""
