-- Journey push messages due now, for Firebase Cloud Messaging: addressed to the customer's
-- latest push token (marts.customer_push_tokens). A customer without one is refused by the
-- connector ("no device token") and recorded as failed, never dropped silently.
{{ journey_messages_for('fcm', extra_columns=[
    ('token', "(select tokens.device_token from " ~ ref('customer_push_tokens') ~ " as tokens where tokens.customer_id = due.customer_id and not tokens.is_unregistered)"),
]) }}
