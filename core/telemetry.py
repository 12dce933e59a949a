"""What linedesk counts and times, as core sees it: a narrow interface with no metrics library behind it.

The composition root hands every service one `Telemetry` (Prometheus in `bots/metrics.py`); tests and
tools that do not care get `NO_TELEMETRY`. Names are the product's events, not Prometheus names.
"""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def client_message(self, line_id: str, channel: str) -> None:
        """A client's message was accepted into a session."""

    def inbound_event(self, source: str, result: str) -> None:
        """A stored platform event: handled, duplicate, failed (given up) or retried."""

    def delivery(self, route: str, result: str) -> None:
        """An outbox delivery attempt ended: delivered, retried or dead."""

    def process_start(self, trigger: str, outcome: str) -> None:
        """A process start: trigger manual/auto/…, outcome started/refused/failed."""

    def instance_failure(self, process_id: str) -> None:
        """A running instance failed."""


class _Nothing:
    def client_message(self, line_id: str, channel: str) -> None: ...

    def inbound_event(self, source: str, result: str) -> None: ...

    def delivery(self, route: str, result: str) -> None: ...

    def process_start(self, trigger: str, outcome: str) -> None: ...

    def instance_failure(self, process_id: str) -> None: ...


NO_TELEMETRY: Telemetry = _Nothing()
