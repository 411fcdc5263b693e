-- Journey emails due now, for SendGrid: the address comes from the customer profile.
{{ journey_messages_for('sendgrid') }}
