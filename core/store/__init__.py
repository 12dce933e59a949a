"""Persistence: the `Store` interface, its SQLite and Redis implementations, and `open_store`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.config import redact_url
from core.store.base import Store, StoreError
from core.store.redis import RedisStore
from core.store.sqlite import SqliteStore

__all__ = ["RedisStore", "SqliteStore", "Store", "StoreError", "open_store"]

ACCEPTED = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "redis://[:password@]host:port/db or rediss://… (optional ?prefix=name:)"
)


def open_store(url: str, base_dir: Path | None = None) -> Store:
    """The store for `url`, not opened yet (await `.open()`). Relative SQLite paths are
    resolved against `base_dir` (default: the current directory)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite" and url.startswith("sqlite:///"):
        raw = url[len("sqlite:///") :].split("?", 1)[0]
        if raw and raw != ":memory:":
            path = Path(raw)
            return SqliteStore(path if path.is_absolute() else (base_dir or Path.cwd()) / path)
    elif parts.scheme in ("redis", "rediss") and parts.hostname:
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [v for k, v in query if k == "prefix"]
        rest = urlunsplit(parts._replace(query=urlencode([(k, v) for k, v in query if k != "prefix"])))
        return RedisStore(rest, prefix=prefixes[-1]) if prefixes else RedisStore(rest)
    raise ValueError(f"unsupported store URL {redact_url(url)!r}; accepted forms: {ACCEPTED}")
