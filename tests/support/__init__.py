"""Helpers shared by the test modules (issue 12, point 9): test modules import helpers from here, never from
another test module or a conftest (tests/test_layout.py checks it)."""
