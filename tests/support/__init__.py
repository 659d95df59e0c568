"""Shared test support: helpers the tests and the bench import.

Under pytest import them as `support.*` (tests/ is on sys.path through tests/conftest.py); from the repository
root (the bench) as `tests.support.*`.
"""
