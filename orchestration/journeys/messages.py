"""Rendering journey messages from their templates (dbt_project/templates/*.yml).

Templates are Jinja2 in a sandbox: they can read `customer` (the dim_customers row),
`context` (the properties of the event that started the journey), `journey` and `step`,
and nothing else. Email HTML is autoescaped. A template that needs a value the customer
doesn't have, or an SMS longer than its limit, is not a crash: it is a failed render
with a reason, which the caller records as a suppressed decision.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from orchestration.journeys.spec import TEMPLATE_PARTS

# GSM 03.38 basic character set: an SMS in it fits 160 characters (153 per part when
# split); anything else is sent as UCS-2, 70 characters (67 per part).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")  # two septets each
SMS_MAX_PARTS = 3
MISSING = re.compile(r"has no attribute '([^']+)'|'([^']+)' is undefined")


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=autoescape, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> jinja2.Template:
    # Compiling is most of a render's cost, and a sync renders the same few templates
    # for thousands of customers.
    return (_HTML if html else _TEXT).from_string(source)


@dataclass(frozen=True)
class Rendered:
    parts: dict[str, str]


@dataclass(frozen=True)
class RenderFailure:
    reason_code: str  # missing_variable | sms_too_long | template_error
    reason: str


def sms_parts(text: str) -> int:
    """How many SMS parts `text` takes (GSM-7 when it can, else UCS-2)."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        septets = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def _missing_name(error: jinja2.UndefinedError) -> str:
    """The name Jinja could not find: "'dict object' has no attribute 'x'" or "'x' is undefined"."""
    found = MISSING.search(str(error))
    return next(name for name in found.groups() if name) if found else str(error)


def render(template: dict[str, str], channel: str, variables: dict[str, Any]) -> Rendered | RenderFailure:
    parts = {}
    for part in TEMPLATE_PARTS[channel]:
        try:
            parts[part] = _compiled(template[part], channel == "email" and part == "html").render(**variables).strip()
        except jinja2.UndefinedError as error:
            return RenderFailure("missing_variable", f"the template's {part} needs {_missing_name(error)}, which this customer doesn't have")
        except jinja2.TemplateError as error:
            return RenderFailure("template_error", f"the template's {part} failed: {error}")
    if channel == "sms" and sms_parts(parts["text"]) > SMS_MAX_PARTS:
        return RenderFailure("sms_too_long", f"the SMS takes {sms_parts(parts['text'])} parts; at most {SMS_MAX_PARTS} are sent")
    return Rendered(parts)


def template_variables(action: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """What a template can read. Null values are left out, so a template that needs one
    fails with missing_variable instead of printing 'None'."""
    context = json.loads(action["context"]) if action.get("context") else {}
    return {
        "customer": {k: v for k, v in customer.items() if v is not None},
        "context": {k: v for k, v in context.items() if v is not None},
        "journey": action["journey"],
        "step": action["step_id"],
    }


def render_due_actions(con, templates: dict[str, dict[str, str]],
                       relation: str = "journeys.journey_actions_due") -> tuple[list[dict], list[dict]]:
    """Render every row of journey_actions_due (or of `relation`, a message sync's model).
    Returns (messages, failures); the caller records failures in the ledger as suppressed,
    so the next decision shows why."""
    actions = con.execute(
        f"select a.*, to_json(c) as customer from {relation} as a "
        "left join marts.dim_customers as c on c.customer_id = a.customer_id order by a.action_id"
    ).fetchall()
    columns = [d[0] for d in con.description]
    messages, failures = [], []
    for row in actions:
        action = dict(zip(columns, row))
        customer = json.loads(action.pop("customer") or "{}")
        template = templates.get(action["template"], {})
        outcome = render(template, action["channel"], template_variables(action, customer))
        if isinstance(outcome, RenderFailure):
            failures.append({**action, "reason_code": outcome.reason_code, "reason": outcome.reason})
        else:
            messages.append({**action, "parts": outcome.parts})
    return messages, failures


def record_render_failures(con, failures: list[dict]) -> None:
    """A message that can't be rendered is suppressed in the ledger, with the reason."""
    for failure in failures:
        con.execute(
            "insert into raw.delivery_ledger (action_id, status, destination, error, journey, step_id, customer_id, channel, offer, recorded_at) "
            "values (?, 'suppressed', ?, ?, ?, ?, ?, ?, ?, ?)",
            [failure["action_id"], failure["destination"], f"{failure['reason_code']}: {failure['reason']}", failure["journey"],
             failure["step_id"], failure["customer_id"], failure["channel"], failure["offer"], failure["decided_at"]],
        )
