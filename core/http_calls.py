"""What the `linedesk.http` block needs from the outside world, without importing an HTTP library, and
which URLs `processes.http_allow` lets it call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str


class ReplyTooLarge(Exception):
    """The reply's body is longer than the caller's `max_body` (it was not read past that)."""

    def __init__(self, max_body: int):
        super().__init__(f"the reply is larger than {max_body:,} bytes")
        self.max_body = max_body


class HttpCaller(Protocol):
    async def call(self, method: str, url: str, json_body: Any, timeout: float, max_body: int) -> HttpReply:
        """Perform one request; raise TimeoutError or OSError when the host cannot be reached, and
        ReplyTooLarge (having read no more than `max_body` bytes of it) when the body is longer."""


def allow_entry(entry: str) -> tuple[str, int | None]:
    """An `http_allow` entry as (host, port): "host" (any port), "host:port" (that port only); an IPv6
    address as "[::1]" or "[::1]:8080" (a bare "::1" names no port). ValueError for a port that is not
    a number from 1 to 65535."""
    entry = entry.strip().lower()
    port: str | None = None
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"processes.http_allow entry {entry!r} is not 'host' or 'host:port'")
            port = rest[1:]
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    else:
        host = entry
    if port is None:
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"processes.http_allow entry {entry!r}: the port is not a number from 1 to 65535")
    return host, int(port)


def http_refusal(url: str, allow: Sequence[str]) -> str | None:
    """Why the http block may not call `url` (None: it may). An `http_allow` entry without a port allows its
    host on any port; "host:port" allows that port only (a URL without a port is on 80 or 443)."""
    parts = urlsplit(url)
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:  # a port that is not a number, or out of range
        host, port = "", None
    if parts.scheme not in DEFAULT_PORTS or not host:
        return f"{url!r} is not an http(s) URL"
    port = port or DEFAULT_PORTS[parts.scheme]
    try:
        ports = [p for h, p in map(allow_entry, allow) if h == host]
    except ValueError as err:
        return str(err)
    if not ports:
        return f"host {host!r} is not in processes.http_allow"
    if None in ports or port in ports:
        return None
    allowed = ", ".join(str(p) for p in sorted(p for p in ports if p is not None))
    return f"port {port} of host {host!r} is not in processes.http_allow (allowed there: {allowed})"
