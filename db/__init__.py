"""The shared schema: settings, engine, typed models, migrations and the queries built on them.

This is the bottom layer: it imports nothing from `workers` or `dashboard`.
"""
