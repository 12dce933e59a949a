"""Fixtures of the security suite: the same stages as the end-to-end tests (tests/support/rigs.py)."""

from tests.support.rigs import any_store_rig, make_rig, rig  # noqa: F401
