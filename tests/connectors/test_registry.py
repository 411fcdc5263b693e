"""Destinations by name, configured from environment variables only."""

import pytest

from connectors import ConfigurationError, Operation, UnsupportedOperation, available, create, destination_class
from connectors.redaction import Secret


def test_registry_lists_this_slice():
    assert {"sendgrid", "klaviyo", "twilio", "webhook", "file_outbox"} <= set(available())


def test_capabilities_are_data():
    klaviyo = destination_class("klaviyo").capabilities
    assert klaviyo.limits(Operation.UPSERT_PROFILES).max_records == 10_000
    assert klaviyo.limits(Operation.REMOVE_AUDIENCE_MEMBERS).max_records == 1000
    assert destination_class("sendgrid").capabilities.limits(Operation.UPSERT_PROFILES).max_bytes == 6 * 1024 * 1024
    assert not destination_class("twilio").capabilities.limits(Operation.SEND_MESSAGES).idempotent


def test_missing_secret_names_the_variable_not_a_value():
    with pytest.raises(ConfigurationError, match="THROUGHLINE_SENDGRID_API_KEY"):
        create("sendgrid", {})


def test_a_second_instance_uses_its_own_prefix(tmp_path):
    outbox = create("file_outbox", {"EU_OUTBOX_DIR": str(tmp_path)}, prefix="EU_OUTBOX")
    assert outbox.directory == tmp_path


def test_unknown_destination_and_operation():
    with pytest.raises(ConfigurationError, match="unknown destination"):
        create("carrier-pigeon", {})
    twilio = create("twilio", {"THROUGHLINE_TWILIO_ACCOUNT_SID": "AC1", "THROUGHLINE_TWILIO_AUTH_TOKEN": "token-xyz-1",
                               "THROUGHLINE_TWILIO_FROM": "+15017122661"})
    with pytest.raises(UnsupportedOperation):
        twilio.write(Operation.UPSERT_PROFILES, [])


def test_secrets_do_not_print():
    secret = Secret("sk-live-abcdef")
    assert "abcdef" not in repr(secret) and "abcdef" not in f"{secret}"


def test_destinations_command_prints_every_destination_with_its_capabilities(capsys):
    import json

    from orchestration.cli import main

    assert main(["destinations", "--json"]) == 0
    described = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(described) == set(available())
    for name, entry in described.items():
        capabilities = destination_class(name).capabilities
        assert {o["operation"] for o in entry["operations"]} == {op.value for op in capabilities.operations}
        for o in entry["operations"]:
            limits = capabilities.limits(Operation(o["operation"]))
            assert (o["max_records"], o["deduplicated"]) == (limits.max_records, limits.idempotent)
    hubspot_events = next(o for o in described["hubspot"]["operations"] if o["operation"] == "track_events")
    assert hubspot_events["rate"] == {"requests": 100, "per_seconds": 10}

    assert main(["destinations", "twilio"]) == 0
    table = capsys.readouterr().out
    assert "send_messages" in table and "1 destination." in table and "hubspot" not in table
    assert main(["destinations", "carrier-pigeon"]) == 2
    assert "unknown destination(s): carrier-pigeon" in capsys.readouterr().err


def test_the_registry_has_every_destination_of_the_second_wave():
    second_wave = {"activecampaign", "hubspot", "mailchimp", "fcm", "onesignal", "snap", "tiktok", "linkedin",
                   "pinterest", "slack"}
    assert second_wave <= set(available()) and len(available()) >= 20
