"""The Telegram sandbox itself: the HTTP server, recording, failure injection and update delivery."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import (
    ClientError,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)

from ..limits import PLATFORM_LIMITS, Clock, Limits, RateLimiter, Refusals
from .limiting import send_charges, telegram_charges
from .params import Params, coerce_params, read_params, read_parts
from .payloads import _update_type
from .records import (
    _DEFAULT_DESCRIPTIONS,
    _TOKEN,
    DOWNLOAD_LIMIT,
    JSON,
    UPLOAD_LIMIT,
    ApiError,
    DeliveryResult,
    FileRecord,
    SandboxCall,
    Upload,
    UserRef,
)
from .routes import BotApi, Described
from .state import BotState, ChatState, SandboxState, WebhookState
from .updates import UpdateBuilders


@dataclass
class FailureRule:
    method: str
    status: int | None
    remaining: int
    retry_after: int | None = None
    description: str | None = None
    chat_id: str | None = None
    delay: float | None = None
    token: str | None = None

    def matches(self, token: str, method: str, params: Mapping[str, Any]) -> bool:
        if self.remaining <= 0 or self.method != method.lower():
            return False
        if self.token is not None and self.token != token:
            return False
        return self.chat_id is None or str(params.get("chat_id")) == self.chat_id

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        description = self.description
        if description is None and self.status == 429:
            description = f"Too Many Requests: retry after {self.retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(self.status, "Error")
        return ApiError(self.status, description, retry_after=self.retry_after)


# --------------------------------------------------------------------------------------------------
# The sandbox
# --------------------------------------------------------------------------------------------------


class TelegramSandbox(UpdateBuilders):
    """In-process Telegram Bot API emulator (HTTP server, state, recording, failures, updates).

    Usage::

        async with TelegramSandbox() as tg:
            tg.add_bot("123456:ABC", "support_bot")
            bot = Bot("123456:ABC", session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))

    Telegram's rate limits are enforced by default (:mod:`sandboxes.limits`: a call over one answers 429 with
    ``retry_after`` and changes nothing); ``TelegramSandbox(limits=Limits.off())`` for speed, ``clock=`` to move
    the limits' time by hand. The 429s answered are counted in :attr:`refusals`.
    """

    def __init__(
        self,
        *,
        record_calls: bool = True,
        webhook_timeout: float = 10.0,
        limits: Limits = PLATFORM_LIMITS,
        clock: Clock = time.monotonic,
    ) -> None:
        self.state = SandboxState()
        self.limits = limits
        self.limiter = RateLimiter(clock)
        self.api = BotApi(self.state)
        self.record_calls = record_calls
        self.webhook_timeout = webhook_timeout
        self.calls: list[SandboxCall] = []
        self._failures: list[FailureRule] = []
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._client: ClientSession | None = None
        self.app = self._build_app()

    # -- server ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_route("*", r"/bot{token:[^/]+}/{method:[^/]*}", self._handle_api)
        app.router.add_get(r"/file/bot{token:[^/]+}/{path:.+}", self._handle_file)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0 picks a free port; see :attr:`base_url`)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        for bot in self.state.bots.values():
            bot.closing = False

    async def stop(self) -> None:
        """Stop serving; long polls return at once, in-flight delayed calls are cancelled."""
        for bot in self.state.bots.values():
            bot.closing = True
            bot.wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> TelegramSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("sandbox is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base(base_url)`` / ``TELEGRAM_API_URL``."""
        return f"http://{self._host}:{self.port}"

    async def _handle_api(self, request: web.Request) -> web.Response:
        token, raw_method = request.match_info["token"], request.match_info["method"]
        call, body = await self._execute(token, raw_method, lambda: read_params(request))
        return web.json_response(body, status=call.status, dumps=_dumps)

    async def _execute(
        self, token: str, raw_method: str, load_params: Callable[[], Awaitable[JSON]]
    ) -> tuple[SandboxCall, JSON]:
        """Run one Bot API call (HTTP request or webhook reply): failures, validation, recording."""
        bot = self.state.bots.get(token)
        method = self.api.methods.get(raw_method.lower())
        name = method.name if method is not None else raw_method
        params: JSON = {}
        status, result, description = 200, None, None
        try:
            if bot is None:
                raise ApiError(401, "Unauthorized")
            if method is None:
                raise ApiError(404, "Not Found: method not found")
            params = await load_params()
            await self._inject_failure(token, name, params)
            p = Params(params)
            p.require(method.required)
            charges = telegram_charges(self.limits, self.state, token, name, p)
            if self.limiter.wait(charges) > 0:
                seconds = self.limiter.refuse(name, charges)
                raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
            outcome = await method.handler(bot, p)
            self.limiter.charge(charges)  # only a call that succeeded counts against the limits
            if isinstance(outcome, Described):
                result, description = outcome.result, outcome.description
                body: JSON = {"ok": True, "result": result, "description": description}
            else:
                result, body = outcome, {"ok": True, "result": outcome}
        except ApiError as error:
            status, description, body = error.status, error.description, error.payload()
        call = SandboxCall(token, name, params, time.time(), status, result, description)
        if self.record_calls:
            self.calls.append(call)
        return call, body

    async def _handle_file(self, request: web.Request) -> web.Response:
        token, path = request.match_info["token"], request.match_info["path"]
        record = self.state.files_by_path.get(path)
        if token not in self.state.bots:
            return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
        if record is None or record.size > DOWNLOAD_LIMIT:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=record.read(), content_type=record.mime_type or "application/octet-stream")

    # -- world -------------------------------------------------------------------------------------

    def add_bot(self, token: str, username: str, first_name: str = "Sandbox Bot") -> JSON:
        """Register a bot; its id is the number before the token's colon. Returns its User."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise ValueError("token must look like '123456:ABC-DEF…'")
        user = {"id": int(match.group(1)), "is_bot": True, "first_name": first_name, "username": username}
        self.state.bots[token] = BotState(token, user)
        return user

    def bot_user(self, token: str) -> JSON:
        return self.state.bot(token).user

    def user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSON:
        """Create (or replace) a Telegram user; returns its User object."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        optional = {"last_name": last_name, "username": username, "language_code": language_code}
        user.update({k: v for k, v in optional.items() if v is not None})
        self.state.users[user_id] = user
        return user

    def group(
        self,
        chat_id: int,
        title: str,
        *,
        members: Iterable[UserRef] = (),
        forum: bool = False,
        username: str | None = None,
        owner: UserRef | None = None,
        chat_type: Literal["group", "supergroup"] = "supergroup",
    ) -> JSON:
        """Create a group chat (every registered bot is its administrator). Returns its Chat."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative (supergroups: -100…)")
        if forum and chat_type != "supergroup":
            raise ValueError("only supergroups can be forums")
        chat: JSON = {"id": chat_id, "title": title, "type": chat_type}
        if username:
            chat["username"] = username
        if forum:
            chat["is_forum"] = True
        member_ids = [self.state.resolve_user(m)["id"] for m in members]
        owner_id = self.state.resolve_user(owner)["id"] if owner is not None else None
        if owner_id is not None:
            member_ids.append(owner_id)
        self.state.groups[chat_id] = ChatState(chat, member_ids, owner_id)
        return chat

    def forum_group(self, chat_id: int, title: str, members: Iterable[UserRef] = (), **kwargs: Any) -> JSON:
        """Create a forum supergroup (topics enabled) — a Telegram desk."""
        return self.group(chat_id, title, members=members, forum=True, **kwargs)

    def register_file(
        self,
        data: bytes | None = None,
        *,
        kind: str = "document",
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        **attributes: Any,
    ) -> FileRecord:
        """A file a user can send (:meth:`media_update`). Give ``size`` alone for a big fake file."""
        return self.state.add_file(kind, data=data, size=size, file_name=file_name, mime_type=mime_type, **attributes)

    def open_private_chat(self, token: str, user: UserRef) -> JSON:
        """As if ``user`` pressed Start: the bot may now write to them. Returns the Chat."""
        return self.state.private_chat(self.state.bot(token), self.state.resolve_user(user)).chat

    # -- failures & blocking -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int | None = None,
        count: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        chat_id: int | str | None = None,
        delay: float | None = None,
        token: str | None = None,
    ) -> FailureRule:
        """Make the next ``count`` calls of ``method`` (optionally only to ``chat_id`` / for one bot)
        answer ``status`` — or, with ``delay``, hang that long first (then answer ``status`` if given,
        else normally)."""
        if status is None and delay is None:
            raise ValueError("give a status, a delay or both")
        if status == 429 and retry_after is None:
            retry_after = 1
        rule = FailureRule(
            method.lower(),
            status,
            count,
            retry_after,
            description,
            None if chat_id is None else str(chat_id),
            delay,
            token,
        )
        self._failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        self._failures.clear()

    async def _inject_failure(self, token: str, method: str, params: Mapping[str, Any]) -> None:
        rule = next((r for r in self._failures if r.matches(token, method, params)), None)
        if rule is None:
            return
        rule.remaining -= 1
        if rule.remaining <= 0:
            self._failures.remove(rule)
        if rule.delay:
            await asyncio.sleep(rule.delay)
        error = rule.error()
        if error is not None:
            raise error

    def block_user(self, bot_token: str, user_id: int) -> None:
        """From now on writing to this user's private chat answers 403 "bot was blocked by the user"."""
        self.state.bot(bot_token).blocked.add(user_id)

    def unblock_user(self, bot_token: str, user_id: int) -> None:
        self.state.bot(bot_token).blocked.discard(user_id)

    # -- recording & what each party sees ----------------------------------------------------------

    @property
    def refusals(self) -> Refusals:
        """The 429s the limits answered: ``.total``, ``.by_method["sendMessage"]``, ``.by_bucket[TELEGRAM_GROUP]``,
        ``.by_key[(TELEGRAM_GROUP, (token, chat_id))]`` (injected failures are not counted here)."""
        return self.limiter.refusals

    def seconds_until_room(self, token: str, chat_id: int, messages: int = 1) -> float:
        """How long until the limits let ``messages`` more messages of the bot ``token`` into ``chat_id`` (0: now)."""
        return self.limiter.wait(send_charges(self.limits, token, chat_id, messages))

    def calls_of(self, method: str, token: str | None = None) -> list[SandboxCall]:
        method = method.lower()
        return [c for c in self.calls if c.method.lower() == method and (token is None or c.token == token)]

    def clear_calls(self) -> None:
        self.calls.clear()

    def chat_messages(self, token: str, chat_id: int, thread_id: int | None = None) -> list[JSON]:
        """Current messages of a chat (or one forum topic), edits applied, deleted ones gone."""
        chat = self.state.chat(self.state.bot(token), chat_id)
        if chat is None:
            return []
        return [m.view() for m in chat.visible(thread_id)]

    def topics(self, chat_id: int) -> list[JSON]:
        """Forum topics of a group with their state (``closed``)."""
        chat = self.state.groups[chat_id]
        return [{**t.as_forum_topic(), "closed": t.closed} for t in chat.topics.values()]

    def callback_answer(self, token: str, query_id: str) -> JSON | None:
        query = self.state.bot(token).callback_queries.get(query_id)
        return None if query is None else query.answer

    def commands(self, token: str, scope: Mapping[str, Any] | None = None, language_code: str = "") -> list[JSON]:
        bot = self.state.bot(token)
        values: JSON = {"scope": dict(scope)} if scope else {}
        if language_code:
            values["language_code"] = language_code
        return list(bot.commands.get(self.api.command_key(bot, Params(values)), []))

    def webhook(self, token: str) -> WebhookState:
        return self.state.bot(token).webhook

    def pending_updates(self, token: str) -> list[JSON]:
        return list(self.state.bot(token).pending)

    # -- inbound: delivery -------------------------------------------------------------------------

    def _http(self) -> ClientSession:
        if self._client is None or self._client.closed:
            self._client = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))
        return self._client

    async def post_update(self, url: str, update: Mapping[str, Any], secret: str | None = None) -> tuple[int, str]:
        """POST any update JSON (a fixture, a forged request…) to a webhook url, as Telegram would."""
        status, text, _ = await self._post(url, update, secret)
        return status, text

    async def _post(self, url: str, update: Mapping[str, Any], secret: str | None) -> tuple[int, str, JSON | None]:
        """POST an update; also returns a Bot API call carried in the reply body, if any."""
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        async with self._http().post(url, data=_dumps(update), headers=headers) as response:
            if response.status == 200 and response.content_type == "multipart/form-data":
                raw: JSON = {}
                uploads: dict[str, Upload] = {}
                await read_parts(MultipartReader.from_response(response), raw, uploads)
                return response.status, "", coerce_params(raw, uploads)
            text = await response.text()
            if response.status == 200 and response.content_type == "application/json":
                try:
                    reply = json.loads(text)
                except ValueError:
                    reply = None
                if isinstance(reply, dict) and reply.get("method"):
                    return response.status, text, coerce_params(reply)
            return response.status, text, None

    async def deliver(self, token: str, update: JSON) -> DeliveryResult:
        """Deliver an update the way Telegram would: to the webhook if one is set, else into the
        getUpdates queue (waking long pollers). Types outside allowed_updates are dropped."""
        bot = self.state.bot(token)
        update_id = update.get("update_id")
        if not bot.allows(_update_type(update)):
            return DeliveryResult(update_id, "filtered")
        hook = bot.webhook
        if not hook.url:
            bot.enqueue(update)
            return DeliveryResult(update_id, "queue")
        try:
            status, body, reply = await self._post(hook.url, update, hook.secret_token)
        except (ClientError, TimeoutError) as error:
            hook.last_error_date = int(time.time())
            hook.last_error_message = str(error) or type(error).__name__
            return DeliveryResult(update_id, "webhook", error=hook.last_error_message)
        if not 200 <= status < 300:
            hook.last_error_date = int(time.time())
            hook.last_error_message = f"Wrong response from the webhook: {status}"
        reply_call = None
        if reply is not None:  # "webhook reply": Telegram executes a method given in the response
            method = str(reply.pop("method"))
            reply_call, _ = await self._execute(token, method, lambda: _ready(reply))
        return DeliveryResult(update_id, "webhook", status, body, reply=reply_call)


async def _ready(params: JSON) -> JSON:
    return params


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
