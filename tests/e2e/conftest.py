"""Fixtures of the end-to-end tests: `rig`, `any_store_rig` and `make_rig` (defined in tests/support/rigs.py)."""

from tests.support.rigs import any_store_rig, make_rig, rig  # noqa: F401
