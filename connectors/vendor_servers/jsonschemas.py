"""Validate request bodies against JSON Schemas we wrote from vendor docs.

Braze, Customer.io, Meta and Google Ads publish no OpenAPI document we can
vendor, so ``schemas/<name>.json`` holds a Draft 2020-12 schema per request
shape, its ``$comment`` naming the documentation page it was written from.
Issues come back as JSON pointers, like ``openapi.schema_issues``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from connectors.vendor_servers.openapi import SchemaIssue

SCHEMA_DIR = Path(__file__).parent / "schemas"


@cache
def validator(name: str) -> Draft202012Validator:
    with open(SCHEMA_DIR / f"{name}.json", encoding="utf-8") as handle:
        schema = json.load(handle)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def issues(name: str, body: Any) -> list[SchemaIssue]:
    found = [
        SchemaIssue("/" + "/".join(str(part) for part in error.absolute_path), error.message)
        for error in validator(name).iter_errors(body)
    ]
    return sorted(found, key=lambda issue: issue.pointer)
