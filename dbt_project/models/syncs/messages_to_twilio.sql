-- Journey SMS due now, for Twilio: the number comes from the customer profile (E.164).
{{ journey_messages_for('twilio') }}
