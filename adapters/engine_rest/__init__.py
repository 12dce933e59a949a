"""Camunda 7's REST API for workers and integrations, under `/engine-rest` (SPEC §12): translation only — the
JSON shapes, status codes and error bodies of Camunda; the work is `core.workers` and `core.processes`."""
