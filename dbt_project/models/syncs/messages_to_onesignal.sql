-- Journey push messages due now, for OneSignal: addressed to the customer id as OneSignal's
-- External ID (the id the app logs in with, OneSignal.login), the title and body rendered by the sync.
{{ journey_messages_for('onesignal') }}
