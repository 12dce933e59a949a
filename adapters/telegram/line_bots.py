"""One aiogram Bot per line, all pointed at the configured Bot API base URL."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from adapters.telegram.pacing import PacedRequests
from core.config import Config
from core.pacing import Pacer


class LineBots:
    def __init__(self, config: Config, *, pacer: Pacer | None = None, timeout: float = 30.0):
        self._api = TelegramAPIServer.from_base(config.telegram.api_url)
        self._session = AiohttpSession(api=self._api, timeout=timeout)
        if pacer is not None:  # every call counted against the platform's limits
            self._session.middleware(PacedRequests(pacer))
        self._bots: dict[str, Bot] = {
            line.id: Bot(token=line.telegram_token, session=self._session)
            for line in config.lines
            if line.telegram_token
        }

    def get(self, line_id: str) -> Bot | None:
        return self._bots.get(line_id)

    def items(self) -> list[tuple[str, Bot]]:
        return list(self._bots.items())

    async def close(self) -> None:
        await self._session.close()
