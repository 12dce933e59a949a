"""Slack as a file source: `slack:<file id>` → the file's bytes, for desks and client channels elsewhere.

`files.info` gives the file's private URL; the download needs the bot token as a bearer token (without it
Slack answers its HTML sign-in page with status 200, which must not pass for the file).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.files import FileUnavailable
from core.model import MAX_FILE_BYTES, Attachment

PREFIX = "slack"
PHOTO_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
PHOTO_MAX_BYTES = 10 * 1024 * 1024
"""Telegram takes photos up to 10 MB (and only these formats); other images travel as documents."""


def file_ref(file_id: str) -> str:
    return f"{PREFIX}:{file_id}"


def attachments_of(files: list[dict[str, Any]] | None) -> tuple[Attachment, ...]:
    """The files of a Slack message event as core's attachments (photo or document by mimetype)."""
    attachments = []
    for file in files or []:
        if not file.get("id") or file.get("mode") == "tombstone":
            continue
        mime = file.get("mimetype") or None
        size = file.get("size")
        photo = mime in PHOTO_MIMES and isinstance(size, int) and size <= PHOTO_MAX_BYTES
        attachments.append(
            Attachment(
                kind="photo" if photo else "document",
                ref=file_ref(str(file["id"])),
                name=file.get("name") or file.get("title") or None,
                mime=mime,
                size=size if isinstance(size, int) else None,
            )
        )
    return tuple(attachments)


class SlackFiles:
    def __init__(self, client: AsyncWebClient):
        self._client = client

    async def fetch(self, ref: str) -> bytes:
        prefix, _, file_id = ref.partition(":")
        if prefix != PREFIX or not file_id:
            raise FileUnavailable(f"not a Slack file reference: {ref!r}")
        try:
            info = await self._client.files_info(file=file_id)
        except SlackApiError as err:
            raise FileUnavailable(f"Slack: {err.response.get('error', 'files.info failed')}") from err
        file: dict[str, Any] = info.get("file") or {}
        size = file.get("size")
        if isinstance(size, int) and size > MAX_FILE_BYTES:
            raise FileUnavailable(f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise FileUnavailable("Slack gave no download URL for the file")
        session = self._client.session
        if session is None or session.closed:
            async with aiohttp.ClientSession() as own:
                return await self._download(own, str(url), str(file.get("mimetype") or ""))
        return await self._download(session, str(url), str(file.get("mimetype") or ""))

    async def _download(self, session: aiohttp.ClientSession, url: str, mime: str) -> bytes:
        headers = {"Authorization": f"Bearer {self._client.token}"}
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as response:
            if response.status != 200:
                raise FileUnavailable(f"Slack answered HTTP {response.status} for the file")
            if response.content_type == "text/html" and mime != "text/html":
                raise FileUnavailable("Slack answered its sign-in page: the bot token lacks files:read")
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.content.iter_chunked(256 * 1024):
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    raise FileUnavailable(f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
                chunks.append(chunk)
        return b"".join(chunks)
