"""What the `linedesk.http` block needs from the outside world, without importing an HTTP library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str


class HttpCaller(Protocol):
    async def call(self, method: str, url: str, json_body: Any, timeout: float) -> HttpReply:
        """Perform one request; raise TimeoutError or OSError when the host cannot be reached."""
