"""The `linedesk.http` block's HTTP client, on aiohttp."""

from __future__ import annotations

from typing import Any

import aiohttp

from core.http_calls import HttpReply


class AiohttpCaller:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def call(self, method: str, url: str, json_body: Any, timeout: float) -> HttpReply:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            # no redirects: a Location could point outside processes.http_allow (the block checks one host)
            async with self._session.request(
                method, url, json=json_body, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                return HttpReply(status=response.status, body=await response.text())
        except aiohttp.ClientError as err:
            raise OSError(f"{type(err).__name__}: {err}") from err

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
