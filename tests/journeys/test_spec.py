"""Journey declarations: a bad one fails with the journey, the field and the fix."""

from pathlib import Path

import pytest
import yaml

from orchestration.journeys.compiler import load_project, render_journey
from orchestration.journeys.policies import DEFAULTS, for_journey, load_policies
from orchestration.journeys.spec import Catalog, JourneyError, parse_journey

CATALOG = Catalog(
    events=frozenset({"cart_added", "purchase_made", "product_purchased", "session_started", "integration_connected"}),
    segments=frozenset({"champions"}),
    templates={"reminder": {"subject": "s", "html": "h", "text": "t"}, "reminder_sms": {"text": "t"}},
)

GOOD = """
name: cart
entry: {event: cart_added}
exit:
  goals: [{event: product_purchased, match: [product_id]}]
steps:
  - wait: 1 hour
  - id: email
    send: {channel: email, template: reminder, destination: sendgrid}
    fallback: {channel: sms, template: reminder_sms, destination: twilio}
"""


def parse(text: str):
    return parse_journey(yaml.safe_load(text), Path("cart.yml"), CATALOG)


def test_a_good_declaration_parses():
    journey = parse(GOOD)
    assert [s.id for s in journey.steps] == ["wait_1", "email"]
    assert journey.steps[0].wait.seconds == 3600
    assert journey.goals[0].match == ("product_id",)
    assert journey.conversion_window.seconds == 30 * 86400  # the default
    assert parse(GOOD.replace("exit:\n", "exit:\n  conversion_window: 14 days\n")).conversion_window.seconds == 14 * 86400


@pytest.mark.parametrize("change, field, fix", [
    (("entry: {event: cart_added}", "entry: {event: cart_addd}"), "entry.event", "did you mean cart_added"),
    (("- wait: 1 hour", "- wait: 3"), "steps[0].wait", "with a unit"),
    (("- wait: 1 hour", "- wait: soon"), "steps[0].wait", "a number and a unit"),
    (("- wait: 1 hour", "- pause: 1 hour"), "steps[0]", "exactly one of"),
    (("template: reminder, destination: sendgrid}", "destination: sendgrid}"), "steps[1].send.template", "name a template"),
    (("template: reminder, destination: sendgrid}", "template: reminder}"), "steps[1].send.destination", "add 'destination:'"),
    (("template: reminder, destination: sendgrid}", "template: reminder, destination: twilio}"), "steps[1].send.destination", "sendgrid"),
    (("template: reminder, destination: sendgrid}", "template: reminder_sms, destination: sendgrid}"), "steps[1].send.template", "add 'subject:'"),
    (("channel: sms, template: reminder_sms, destination: twilio", "channel: email, template: reminder, destination: smtp"), "steps[1].fallback.channel", "another channel"),
    (("  - id: email\n", "  - id: wait_1\n"), "steps[1].id", "its own id"),
    (("name: cart", "name: cart\nholdout_percent: 150"), "holdout_percent", "holdout_percent: 10"),
    (("entry: {event: cart_added}", "entry: {event: cart_added, count: 3}"), "entry.within", "within: 7 days"),
    (("entry: {event: cart_added}", "entry: {segment: vips}"), "entry.segment", "champions"),
    (("exit:\n", "exit:\n  conversion_window: 30\n"), "exit.conversion_window", "with a unit"),
])
def test_a_bad_declaration_names_the_journey_the_field_and_the_fix(change, field, fix):
    with pytest.raises(JourneyError) as raised:
        parse(GOOD.replace(*change))
    error = raised.value
    assert (error.journey, error.field_path) == ("cart", field)
    assert fix in error.fix
    assert str(error).startswith(f"journey 'cart', field '{field}'")


def test_a_journey_without_a_send_is_refused():
    with pytest.raises(JourneyError, match="never sends anything"):
        parse("name: x\nentry: {event: cart_added}\nsteps:\n  - wait: 1 hour\n")


def test_policy_overrides_are_validated():
    with pytest.raises(JourneyError, match="frequency caps are project-wide"):
        for_journey(DEFAULTS, "cart", {"frequency_caps": []})
    with pytest.raises(JourneyError, match="HH:MM"):
        for_journey(DEFAULTS, "cart", {"quiet_hours": {"start": "9pm"}})
    with pytest.raises(JourneyError, match="IANA name"):
        for_journey(DEFAULTS, "cart", {"default_timezone": "Mars/Olympus"})
    assert for_journey(DEFAULTS, "cart", {"quiet_hours": {"start": "22:00"}}).quiet_start == "22:00"


def test_the_shipped_journeys_validate_and_compile():
    journeys, policies, catalog = load_project()
    names = {j.name for j in journeys}
    assert {"abandoned_cart", "win_back", "welcome_newsletter", "welcome_signup", "trial_onboarding",
            "lead_follow_up", "sales_handoff", "proactive_support", "upsell", "post_purchase"} <= names
    for journey in journeys:
        sql = render_journey(journey, for_journey(policies, journey.name, journey.policies), catalog)
        assert f"-- Journey '{journey.name}'" in sql
        assert "{%- set now = throughline_now() %}" in sql, "every decision reads now from the var"
    assert load_policies(Path("nonexistent.yml")) == DEFAULTS
