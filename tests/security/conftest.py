"""Fixtures of the security suite: the same stages as the end-to-end tests (tests/e2e/conftest.py)."""

from tests.e2e.conftest import any_store_rig, make_rig, rig  # noqa: F401
