"""Keeping the desk running: health, alerts, maintenance, start-up and demo data."""
