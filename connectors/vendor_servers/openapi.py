"""Validate request bodies against the vendors' own OpenAPI documents.

The documents live beside this module in ``specs/<vendor>/`` (copied unmodified
from the vendors' repositories, each with its LICENSE), so the servers never
depend on anything outside the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4, DRAFT202012

SPEC_DIR = Path(__file__).parent / "specs"


@dataclass(frozen=True)
class SchemaIssue:
    pointer: str  # JSON pointer into the request body, e.g. /data/attributes/profiles/data/3
    message: str


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@cache
def _load(vendor: str, filename: str) -> dict[str, Any]:
    with open(SPEC_DIR / vendor / filename, encoding="utf-8") as handle:
        return json.load(handle)


@cache
def request_body_validator(vendor: str, filename: str, path: str, method: str, content_type: str) -> Any:
    spec = _load(vendor, filename)
    request_body = spec["paths"][path][method]["requestBody"]
    pointer = f"/paths/{_escape(path)}/{method}/requestBody"
    if "$ref" in request_body:  # e.g. SendGrid's #/components/requestBodies/PostMailSend
        pointer = request_body["$ref"].lstrip("#")
    pointer += f"/content/{_escape(content_type)}/schema"
    version = spec["openapi"]
    dialect = DRAFT202012 if version.startswith("3.1") else DRAFT4
    validator_class = OAS31Validator if version.startswith("3.1") else OAS30Validator
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=dialect))
    return validator_class({"$ref": "urn:spec#" + pointer}, registry=registry)


def schema_issues(
    vendor: str, filename: str, path: str, method: str, body: Any, content_type: str = "application/json"
) -> list[SchemaIssue]:
    validator = request_body_validator(vendor, filename, path, method, content_type)
    issues = [
        SchemaIssue("/" + "/".join(str(part) for part in error.absolute_path), error.message)
        for error in validator.iter_errors(body)
    ]
    return sorted(issues, key=lambda issue: issue.pointer)


def form_schema_properties(vendor: str, filename: str, path: str, method: str) -> dict[str, Any]:
    """Property schemas of a form-encoded request body (for coercing form strings)."""
    spec = _load(vendor, filename)
    schema = spec["paths"][path][method]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return schema.get("properties", {})
