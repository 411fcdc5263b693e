-- Journey webhooks due now (sales hand-offs to a CRM): the rendered body travels as a record field.
{{ journey_messages_for('webhook') }}
