"""Dagster assets of the identity layer that run outside dbt."""
