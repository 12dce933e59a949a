"""Fault tests (issue 7 point 4): platform outages and 429 storms, a Redis restart, kill -9, two instances.

Loopback only, every test bounded in time. Each test prints one `FAULT …` line with its figures (run with -s).
"""
