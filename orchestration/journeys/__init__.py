"""Journeys as code: YAML declarations compiled into dbt models (see docs/journeys.md)."""
