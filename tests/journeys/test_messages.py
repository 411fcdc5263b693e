"""Templates render in a sandbox; what can't be rendered is a reason, not a crash."""

import pytest

from orchestration.journeys.messages import RenderFailure, Rendered, render, sms_parts, template_variables


def test_email_html_is_autoescaped_and_text_is_not():
    out = render({"subject": "{{ context.name }}", "html": "<p>{{ context.name }}</p>", "text": "{{ context.name }}"},
                 "email", {"context": {"name": "Pens & <Ink>"}})
    assert out == Rendered({"subject": "Pens & <Ink>", "html": "<p>Pens &amp; &lt;Ink&gt;</p>", "text": "Pens & <Ink>"})


def test_a_missing_variable_is_a_reason():
    variables = template_variables({"context": '{"cart_id": "k1"}', "journey": "j", "step_id": "s"}, {"first_name": None})
    out = render({"text": "Hi {{ customer.first_name }}"}, "sms", variables)
    assert out == RenderFailure("missing_variable", "the template's text needs first_name, which this customer doesn't have")
    assert render({"text": "Hi {{ customer.first_name | default('there') }}"}, "sms", variables) == Rendered({"text": "Hi there"})


def test_the_sandbox_refuses_reaching_into_python():
    out = render({"text": "{{ context.__class__.__mro__ }}"}, "sms", {"context": {}})
    assert isinstance(out, RenderFailure)


@pytest.mark.parametrize("text, parts", [("a" * 160, 1), ("a" * 161, 2), ("a" * 459, 3), ("€" * 80, 1), ("€" * 81, 2), ("ł" * 70, 1), ("ł" * 71, 2)])
def test_sms_parts_follow_gsm_and_ucs2_limits(text, parts):
    assert sms_parts(text) == parts


def test_an_sms_over_its_limit_is_a_reason():
    out = render({"text": "{{ context.note }}"}, "sms", {"context": {"note": "x" * 500}})
    assert isinstance(out, RenderFailure) and out.reason_code == "sms_too_long"
