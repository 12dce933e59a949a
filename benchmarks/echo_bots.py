"""The baselines of the relay benchmark: bare echo bots on the Telegram sandbox, each a webhook server.

    python benchmarks/echo_bots.py aiogram --port 8081 --api http://127.0.0.1:PORT --token T --secret S
    python benchmarks/echo_bots.py ptb     --port 8082 --api http://127.0.0.1:PORT --token T --secret S

Both answer every text message with the same text (`sendMessage` to the sender's chat), and nothing
else: no store, no logging. That is the framework floor linedesk is compared with.

- aiogram 3: aiohttp's `SimpleRequestHandler` (updates handled in the background after the 200, as
  aiogram does by default), `message.answer(text)` over aiogram's aiohttp session.
- python-telegram-bot: its `Application` with `concurrent_updates(True)` (256 updates at once; the
  library's default is one at a time) and a connection pool of 256 (the default is 1), `base_url` at
  the sandbox; the webhook is a small aiohttp route that puts each update on `application.update_queue`
  (PTB's own `run_webhook` starts a tornado server and owns the event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import signal
from typing import Any

from aiohttp import web

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _serve(app: web.Application, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


async def run_aiogram(port: int, api: str, token: str, secret: str) -> None:
    from aiogram import Bot, Dispatcher, F
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api), limit=256))
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=secret).register(app, path="/telegram")
    setup_application(app, dispatcher, bot=bot)
    app.router.add_get("/healthz", _healthz)
    await _serve(app, port)


async def run_ptb(port: int, api: str, token: str, secret: str) -> None:
    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .updater(None)
        .concurrent_updates(True)
        .connection_pool_size(256)
        .pool_timeout(30.0)
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await context.bot.send_message(message.chat_id, message.text)

    application.add_handler(MessageHandler(filters.TEXT, echo))

    async def webhook(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return web.Response(status=401)
        data: Any = await request.json()
        await application.update_queue.put(Update.de_json(data, application.bot))
        return web.Response()

    app = web.Application()
    app.router.add_post("/telegram", webhook)
    app.router.add_get("/healthz", _healthz)
    async with application:
        await application.start()
        try:
            await _serve(app, port)
        finally:
            await application.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["aiogram", "ptb"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api", required=True, help="the Telegram sandbox's base URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    run = run_aiogram if args.kind == "aiogram" else run_ptb
    asyncio.run(run(args.port, args.api, args.token, args.secret))


if __name__ == "__main__":
    main()
