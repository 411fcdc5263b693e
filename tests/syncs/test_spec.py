"""A sync declared in dbt YAML: a wrong declaration fails with the model, the field and the fix."""

import pytest

from orchestration.syncs.spec import SyncDeclarationError, parse_sync

from .helpers import AUDIENCE_COLUMNS, audience_spec, message_spec, sync_node

GOOD = {"destination": "meta", "operation": "audience", "mode": "mirror", "key": "customer_id", "target_env": "AUDIENCE"}


def declare(columns=AUDIENCE_COLUMNS, enforced=True, **changes):
    sync = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return parse_sync(sync_node("champions_to_meta", sync, columns, enforced=enforced))


def test_a_good_declaration_maps_columns_to_record_fields():
    spec = declare(schedule="*/15 * * * *", max_shrink_percent=10)
    assert spec.relation == "syncs.champions_to_meta"
    assert dict(spec.fields) == {"email": "email", "phone": "phone", "first_name": "first_name"}
    assert spec.removes and spec.updates and spec.max_shrink_percent == 10 and spec.schedule == "*/15 * * * *"
    assert audience_spec(mode="add_only").updates is False
    assert message_spec("twilio").key == "action_id"


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        ({"destination": "metta"}, "destination", "use 'meta'"),
        ({"operation": "audiences"}, "operation", "use one of audience"),
        ({"destination": "twilio"}, "operation", "send audience to one of"),
        ({"mode": "full"}, "mode", "use one of upsert, mirror, add_only"),
        ({"key": "id"}, "key", "name one of the contract's columns"),
        ({"key": None}, "key", "add `key: customer_id`"),
        ({"target_env": None}, "target_env", "add `target_env: THROUGHLINE_CHAMPIONS_TO_META_TARGET`"),
        ({"schedule": "every 5 minutes"}, "schedule", "write five fields"),
        ({"max_shrink_percent": 150}, "max_shrink_percent", "write a number from 0 to 100"),
        ({"fields": {"emial": "email"}}, "fields.emial", "use 'email'"),
        ({"fields": {"email": "mail"}}, "fields.email", "name one of customer_id"),
        ({"destinaton": "meta"}, "destinaton", "use 'destination'"),
    ],
)
def test_a_wrong_declaration_names_the_model_the_field_and_the_fix(changes, field, fix):
    with pytest.raises(SyncDeclarationError) as raised:
        declare(**changes)
    message = str(raised.value)
    assert "sync model 'champions_to_meta'" in message and f"field 'meta.sync.{field}'" in message, message
    assert fix in message, message


def test_modes_that_would_harm_are_refused():
    with pytest.raises(SyncDeclarationError, match="mirror would delete people"):
        declare(operation="profiles", destination="klaviyo", target_env=None)
    with pytest.raises(SyncDeclarationError, match="sent once, never updated"):
        message_spec("twilio", mode="upsert")


def test_a_sync_model_needs_an_enforced_contract_and_a_declaration():
    with pytest.raises(SyncDeclarationError, match="must be an enforced contract.*contract: {enforced: true}"):
        declare(enforced=False)
    node = sync_node("champions_to_meta", GOOD, AUDIENCE_COLUMNS)
    node["config"]["meta"] = {}
    with pytest.raises(SyncDeclarationError, match="has no meta.sync.*or move the model out of models/syncs/"):
        parse_sync(node)


def test_a_message_sync_model_needs_the_ledger_columns():
    node = sync_node("messages_to_twilio", {"destination": "twilio", "operation": "messages"}, ["action_id", "phone"])
    with pytest.raises(SyncDeclarationError, match="needs the columns journey, step_id"):
        parse_sync(node)


def test_the_projects_own_sync_models_are_valid(dbt_manifest):
    from orchestration.syncs.spec import load_syncs

    specs = {spec.name: spec for spec in load_syncs(dbt_manifest)}
    assert {"champions_to_meta", "champions_to_sendgrid", "messages_to_sendgrid", "messages_to_twilio",
            "messages_to_braze", "messages_to_webhook"} <= set(specs)
    assert specs["champions_to_meta"].mode == "mirror" and specs["messages_to_braze"].fields["campaign_id"] == "campaign_id"
