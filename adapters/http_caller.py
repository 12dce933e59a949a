"""The `linedesk.http` block's HTTP client, on aiohttp."""

from __future__ import annotations

from typing import Any

import aiohttp

from core.http_calls import HttpReply, ReplyTooLarge

CHUNK = 64 * 1024


class AiohttpCaller:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, url: str, json_body: Any, timeout: float, max_body: int) -> HttpReply:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            # no redirects: a Location could point outside processes.http_allow (the block checks one host)
            async with self._session.request(
                method, url, json=json_body, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                body = await _read_at_most(response, max_body)
                return HttpReply(status=response.status, body=_decode(body, response.charset))
        except aiohttp.ClientError as err:
            raise OSError(f"{type(err).__name__}: {err}") from err

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _read_at_most(response: aiohttp.ClientResponse, max_body: int) -> bytes:
    """The body, read in chunks; ReplyTooLarge as soon as it is longer than `max_body` (the connection is
    dropped then, so what the host still sends is never read)."""
    if response.content_length is not None and response.content_length > max_body:
        response.close()
        raise ReplyTooLarge(max_body)
    body = bytearray()
    while chunk := await response.content.read(min(CHUNK, max_body + 1 - len(body))):
        body += chunk
        if len(body) > max_body:
            response.close()
            raise ReplyTooLarge(max_body)
    return bytes(body)


def _decode(body: bytes, charset: str | None) -> str:
    """As aiohttp's `text()`: the declared charset, else UTF-8."""
    try:
        return body.decode(charset or "utf-8")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8")
