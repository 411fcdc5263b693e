-- Sales hand-offs due now, for HubSpot: each becomes a task (or a note, HANDOFF_OBJECT) on the
-- contact found or created by email; subject and text are rendered by the sync.
{{ journey_messages_for('hubspot') }}
