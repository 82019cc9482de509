"""A stand-in for the product's Django app: its models as the review describes them, nothing more.

Used only by `tests/test_django_compat.py`, in a subprocess, to prove that the Django ORM still
reads and writes the schema after `narration-desk db upgrade`.
"""
