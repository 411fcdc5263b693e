-- Journey push and in-app messages due now, for Braze: sent through an API-triggered
-- campaign (the braze_campaign_id var) to the customer's external id.
{{ journey_messages_for('braze', extra_columns=[('campaign_id', "'" ~ var('braze_campaign_id', 'demo-push-campaign') ~ "'")]) }}
