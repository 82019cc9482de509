"""Synthesis workers: the queue, the job that turns a row into audio, and the commands that run them.

Imports `db`, never `dashboard`.
"""
