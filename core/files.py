"""Files between platforms: an attachment's `ref` names the platform that can hand its bytes over.

Adapters register a source per prefix ("telegram", "slack"); a desk or a client channel on another
platform fetches the bytes and uploads them itself.
"""

from __future__ import annotations

from typing import Protocol


class FileUnavailable(Exception):
    """The file cannot be fetched (unknown source, gone, too large for the platform's bot API)."""


class FileSource(Protocol):
    async def fetch(self, ref: str) -> bytes: ...


class Files:
    def __init__(self) -> None:
        self._sources: dict[str, FileSource] = {}

    def register(self, prefix: str, source: FileSource) -> None:
        self._sources[prefix] = source

    async def fetch(self, ref: str) -> bytes:
        prefix = ref.split(":", 1)[0]
        source = self._sources.get(prefix)
        if source is None:
            raise FileUnavailable(f"no file source for {prefix!r}")
        return await source.fetch(ref)
