"""Telegram as a file source: `telegram:<line>:<file_id>` → the file's bytes, through the line's bot."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest

from adapters.telegram.line_bots import LineBots
from core.files import FileUnavailable


class TelegramFiles:
    def __init__(self, bots: LineBots):
        self._bots = bots

    async def fetch(self, ref: str) -> bytes:
        try:
            _, line_id, file_id = ref.split(":", 2)
        except ValueError:
            raise FileUnavailable(f"not a Telegram file reference: {ref!r}") from None
        bot = self._bots.get(line_id)
        if bot is None:
            raise FileUnavailable(f"line {line_id!r} has no Telegram bot")
        try:
            file = await bot.get_file(file_id)
        except TelegramBadRequest as err:
            raise FileUnavailable(f"Telegram: {err.message}") from err
        if not file.file_path:
            raise FileUnavailable("Telegram gave no file path")
        data = await bot.download_file(file.file_path)
        if data is None:
            raise FileUnavailable("Telegram sent no content")
        return data.read()
