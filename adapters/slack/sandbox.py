"""A local, in-process emulator of Slack for the test suite, the demo and benchmarks.

It plays both sides the product talks to:

* the **Web API** (``/api/{method}``) that ``slack_sdk``'s ``AsyncWebClient`` calls when
  pointed at :attr:`SlackSandbox.api_url`: it keeps state (users, channels, messages,
  threads, ephemerals, modals, App Home tabs, files), records every call and can be told
  to fail (``ok: false`` errors, 429 with ``Retry-After``, 5xx, hangs);
* the **Slack side** that sends signed requests to the product: slash commands,
  block actions, view submissions, message shortcuts and Events API callbacks, built
  after the real payloads kept in ``shared/reference/slack``, with trigger ids and
  response URLs that this sandbox issued and later checks;
* **Socket Mode** (:class:`SlackSocketMode`, reachable as :attr:`SlackSandbox.socket`):
  ``apps.connections.open`` with the app-level token hands out a one-time
  ``ws://…/socket/<ticket>`` URL; over that websocket the same payloads travel as
  envelopes, and the product's acks carry what an HTTP response body would.

Behaviour follows Slack where a product could get it wrong: trigger ids expire after
``trigger_ttl`` seconds and are single-use, bots may only edit their own messages, the
ack body of a block action is ignored (only slash-command acks are shown to the user),
``url_private`` needs the bot token, a ``thread_ts`` that matches no message is
accepted and the reply is seen in no thread.

Only aiohttp and the standard library: the sandbox must not share code with the product
it is used to test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import mimetypes
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDictProxy

JSON = dict[str, Any]
"""A JSON object as Slack sends or answers it."""

FORM = "application/x-www-form-urlencoded"
JSON_CONTENT = "application/json"

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
ACTIONS_ELEMENT_LIMIT = 25
TEXT_LIMIT = 40_000
VIEW_TITLE_LIMIT = 24
MODAL_STACK_LIMIT = 3
RESPONSE_URL_USES = 5

_JSON_PARAMS = frozenset({"blocks", "attachments", "view", "metadata", "files", "user_auth_blocks"})
_STATUS_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "request_timeout"}
_SLACKBOT_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def slack_signature(signing_secret: str, timestamp: str, body: str | bytes) -> str:
    """``X-Slack-Signature`` for ``body``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------
# Records


@dataclass
class SlackCall:
    """One Web API call the product made (token removed from ``params``)."""

    method: str
    params: JSON
    time: float
    response: JSON | None = None
    status: int = 200


@dataclass(frozen=True)
class SlackResponse:
    """What the product answered to a request sent by :meth:`SlackSandbox.send`."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str
    json: Any
    elapsed: float


@dataclass(frozen=True)
class SlackIdentity:
    """The workspace, the app and its bot user, as every payload names them."""

    team_id: str
    team_domain: str
    team_name: str
    bot_user_id: str
    bot_id: str
    app_id: str
    bot_name: str
    verification_token: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None

    @property
    def url(self) -> str:
        return f"https://{self.team_domain}.slack.com/"

    def team(self) -> JSON:
        team: JSON = {"id": self.team_id, "domain": self.team_domain}
        if self.enterprise_id:
            team.update(enterprise_id=self.enterprise_id, enterprise_name=self.enterprise_name)
        return team

    def enterprise(self) -> JSON | None:
        return {"id": self.enterprise_id, "name": self.enterprise_name} if self.enterprise_id else None

    def bot_profile(self) -> JSON:
        icon = f"https://a.slack-edge.com/sandbox/{self.bot_id}"
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_name,
            "updated": 1700000000,
            "app_id": self.app_id,
            "icons": {"image_36": f"{icon}_36.png", "image_48": f"{icon}_48.png", "image_72": f"{icon}_72.png"},
            "team_id": self.team_id,
        }


@dataclass
class SlackUser:
    """A workspace member. ``display_name`` is ``""`` when not set, as in Slack."""

    id: str
    name: str
    display_name: str
    is_bot: bool
    team_id: str

    @property
    def username(self) -> str:
        """The legacy handle (``name`` in Slack's user object)."""
        return re.sub(r"[^a-z0-9._-]+", ".", self.name.lower()).strip(".") or self.id.lower()

    def to_api(self) -> JSON:
        first, _, last = self.name.partition(" ")
        avatar = f"https://avatars.slack-edge.com/sandbox/{self.id}"
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.username,
            "deleted": False,
            "color": "9f69e7",
            "real_name": self.name,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": {
                "real_name": self.name,
                "real_name_normalized": self.name,
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "first_name": first,
                "last_name": last,
                "avatar_hash": "g0sandbox",
                "image_48": f"{avatar}_48.png",
                "image_72": f"{avatar}_72.png",
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }


@dataclass
class SlackChannel:
    """A conversation and its messages.

    ``members`` ``None`` means anyone may see it (ephemerals to any user are allowed);
    ``is_member`` is the bot's own membership (posting needs it).
    """

    id: str
    name: str
    is_im: bool = False
    is_private: bool = False
    user: str | None = None
    members: list[str] | None = None
    is_member: bool = True
    created: int = field(default_factory=lambda: int(time.time()))
    messages: dict[str, JSON] = field(default_factory=dict)
    replies: dict[str, list[str]] = field(default_factory=dict)

    @property
    def channel_type(self) -> str:
        if self.is_im:
            return "im"
        if self.id.startswith("G") and self.name.startswith("mpdm-"):
            return "mpim"
        return "group" if self.is_private else "channel"

    def post(self, message: JSON) -> JSON:
        """Store a message (its ``ts`` already set) and index it under its thread."""
        ts = message["ts"]
        self.messages[ts] = message
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            self.replies.setdefault(thread_ts, []).append(ts)
        return message

    def delete(self, ts: str) -> None:
        """Remove a message; a root that has replies stays as a tombstone, as in Slack."""
        message = self.messages[ts]
        if self.replies.get(ts):
            message.clear()
            message.update(
                type="message",
                subtype="tombstone",
                text="This message was deleted.",
                user="USLACKBOT",
                hidden=True,
                ts=ts,
                thread_ts=ts,
            )
            return
        del self.messages[ts]
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            self.replies[thread_ts].remove(ts)

    def render(self, message: JSON) -> JSON:
        """A shallow copy with the thread summary Slack adds to roots that have replies."""
        out = dict(message)
        replies = self.replies.get(message["ts"])
        if replies and self.is_root(message):
            users = list(dict.fromkeys(self.messages[ts].get("user", "") for ts in replies))
            out.update(
                thread_ts=message["ts"],
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1],
                is_locked=False,
            )
        return out

    @staticmethod
    def is_root(message: JSON) -> bool:
        thread_ts = message.get("thread_ts")
        return not thread_ts or thread_ts == message["ts"]

    def roots(self) -> list[JSON]:
        """What the channel shows: roots and broadcast replies, no tombstones, oldest first."""
        return [
            self.render(m)
            for m in self.messages.values()
            if m.get("subtype") != "tombstone" and (self.is_root(m) or m.get("subtype") == "thread_broadcast")
        ]

    def thread(self, thread_ts: str) -> list[JSON]:
        return [dict(self.messages[ts]) for ts in self.replies.get(thread_ts, [])]

    def to_api(self) -> JSON:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "is_user_deleted": False,
                "priority": 0,
            }
        empty = {"value": "", "creator": "", "last_set": 0}
        channel: JSON = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private and self.channel_type == "group",
            "is_im": False,
            "is_mpim": self.channel_type == "mpim",
            "is_private": self.is_private,
            "created": self.created,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "creator": "",
            "is_member": self.is_member,
            "topic": dict(empty),
            "purpose": dict(empty),
        }
        if self.members is not None:
            channel["num_members"] = len(self.members)
        return channel


@dataclass
class SlackFile:
    """A file uploaded through ``files.getUploadURLExternal`` or made by :meth:`SlackWorkspace.add_file`."""

    id: str
    name: str
    title: str
    user: str
    mimetype: str
    declared_length: int
    content: bytes | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    shares: dict[str, list[JSON]] = field(default_factory=dict)

    def to_api(self, base_url: str, identity: SlackIdentity, channels: Mapping[str, SlackChannel]) -> JSON:
        ext = self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"
        public = {c: s for c, s in self.shares.items() if c in channels and not channels[c].is_private}
        private = {c: s for c, s in self.shares.items() if c not in public}
        url = f"{base_url}/files/{self.id}/{self.name}"
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": self.user,
            "user_team": identity.team_id,
            "editable": False,
            "size": len(self.content) if self.content is not None else self.declared_length,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(public),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": f"{url}?download=1",
            "permalink": f"{identity.url}files/{self.user}/{self.id}/{self.name}",
            "channels": [c for c in public if not c.startswith("D")],
            "groups": [c for c in private if not c.startswith("D")],
            "ims": [c for c in self.shares if c.startswith("D")],
            "shares": {"public": public, "private": private} if self.shares else {},
            "comments_count": 0,
            "has_rich_preview": False,
            "file_access": "visible",
        }


@dataclass
class SlackView:
    """A modal or App Home tab: ``view`` is the object as Slack returns it (id, hash, state…)."""

    id: str
    user_id: str
    view: JSON
    closed: bool = False
    errors: dict[str, str] | None = None

    @property
    def type(self) -> str:
        return str(self.view.get("type", ""))


@dataclass
class _Trigger:
    user_id: str
    issued: float
    used: bool = False


@dataclass
class _ResponseUrl:
    """Where a response URL posts: the user, the channel, and the message clicked (if any)."""

    user_id: str
    channel_id: str | None
    origin_ts: str | None = None
    origin_ephemeral: bool = False
    uses: int = 0


@dataclass
class _Failure:
    method: str
    error: str | None
    status: int
    remaining: int
    retry_after: int | None
    channel: str | None
    delay: float | None
    extra: JSON

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.method not in ("*", method):
            return False
        return self.channel is None or self.channel in (params.get("channel"), params.get("channel_id"))

    def answer(self) -> tuple[int, JSON, dict[str, str]] | None:
        """The injected HTTP answer, or ``None`` when the rule only delays the call."""
        if self.retry_after is not None or self.status == 429:
            retry_after = 1 if self.retry_after is None else self.retry_after
            return 429, {"ok": False, "error": self.error or "ratelimited"}, {"Retry-After": str(retry_after)}
        if self.status != 200:
            error = self.error or _STATUS_ERRORS.get(self.status, "internal_error")
            return self.status, {"ok": False, "error": error}, {}
        if self.error:
            return 200, {"ok": False, "error": self.error, **self.extra}, {}
        return None


class _ApiError(Exception):
    """A Web API refusal, answered as ``{"ok": false, "error": ...}`` with HTTP 200."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# --------------------------------------------------------------------------------------
# Helpers


class _Clock:
    """Message timestamps: unique, increasing, shaped like Slack's ``"1700000000.000100"``."""

    def __init__(self) -> None:
        self._last = 0

    def next_ts(self) -> str:
        micros = max(time.time_ns() // 1000, self._last + 1)
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class _Ids:
    """Readable, unique ids with Slack's prefixes (``V…`` views, ``F…`` files, ``Ev…`` events)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}0{next(self._counter):08X}"


class _Params:
    """Typed access to a call's parameters (query and body merged, JSON fields decoded)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def require(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.get(name)
        if value is None:
            raise _ApiError(error)
        return value

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true")

    def number(self, name: str, default: int) -> int:
        try:
            return int(self.values.get(name) or default)
        except (TypeError, ValueError):
            raise _ApiError("invalid_arguments") from None

    def array(self, name: str, error: str = "invalid_arguments") -> list[Any] | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, list):
            raise _ApiError(error)
        return value

    def obj(self, name: str, error: str = "invalid_arguments") -> JSON | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise _ApiError(error)
        return value


def _form(fields: Mapping[str, str]) -> tuple[str, str]:
    return urlencode(fields), FORM


def _interaction(payload: JSON) -> tuple[str, str]:
    """Interactivity requests are form bodies with one field, ``payload=<json>``."""
    return _form({"payload": json.dumps(payload)})


def _rich_text(text: str) -> list[JSON]:
    """The ``rich_text`` block Slack clients attach to what a person types."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": secrets.token_urlsafe(3), "elements": [section]}]


def _paginate(items: list[JSON], params: _Params, default_limit: int) -> tuple[list[JSON], str]:
    """Offset cursors, opaque like Slack's (base64 of ``next:<offset>``)."""
    limit = max(1, params.number("limit", default_limit))
    cursor = params.get("cursor")
    offset = 0
    if cursor:
        try:
            offset = int(base64.b64decode(cursor).decode().removeprefix("next:"))
        except ValueError:
            raise _ApiError("invalid_cursor") from None
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, base64.b64encode(f"next:{offset + limit}".encode()).decode() if more else ""


def _interactive_elements(block: JSON) -> list[JSON]:
    found: list[JSON] = []
    if isinstance(block.get("elements"), list) and block.get("type") in ("actions", "input"):
        found.extend(e for e in block["elements"] if isinstance(e, dict))
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    return found


def _normalise_blocks(blocks: list[Any], limit: int, error: str) -> list[JSON]:
    """Check blocks the way Slack refuses them, and fill ``block_id``/``action_id`` like Slack does."""
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:/blocks]")
    seen: set[str] = set()
    out: list[JSON] = []
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:/blocks/{i}]")
            continue
        block = copy.deepcopy(raw)
        block_id = block.setdefault("block_id", secrets.token_urlsafe(3))
        if block_id in seen:
            problems.append(f"duplicate block_id [json-pointer:/blocks/{i}/block_id]")
        seen.add(block_id)
        elements = block.get("elements")
        if block["type"] == "actions" and isinstance(elements, list) and len(elements) > ACTIONS_ELEMENT_LIMIT:
            problems.append(f"no more than {ACTIONS_ELEMENT_LIMIT} items allowed [json-pointer:/blocks/{i}/elements]")
        if block["type"] == "input" and not (isinstance(block.get("element"), dict) and block.get("label")):
            problems.append(f"input needs label and element [json-pointer:/blocks/{i}]")
        for element in _interactive_elements(block):
            if element.get("type") not in ("image", None):
                element.setdefault("action_id", secrets.token_urlsafe(4))
        out.append(block)
    if problems:
        raise _ApiError(error, response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    return out


def _check_plain_text(value: Any, name: str, problems: list[str]) -> None:
    if value is None:
        return
    text = value.get("text") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text:
        problems.append(f"must provide a text object [json-pointer:/view/{name}]")
    elif len(text) > VIEW_TITLE_LIMIT:
        problems.append(f"must be less than {VIEW_TITLE_LIMIT + 1} characters [json-pointer:/view/{name}/text]")


def _checked_view(payload: Any, kind: str) -> JSON:
    """Validate a view payload like Slack (``invalid_arguments`` + messages) and normalise its blocks."""
    if not isinstance(payload, dict):
        raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing view"]})
    problems: list[str] = []
    if payload.get("type") != kind:
        problems.append(f"must be '{kind}' [json-pointer:/view/type]")
    if kind == "modal":
        if payload.get("title") is None:
            problems.append("missing required field: title [json-pointer:/view]")
        for name in ("title", "submit", "close"):
            _check_plain_text(payload.get(name), name, problems)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in payload.get("blocks") or [])
        if has_input and payload.get("submit") is None:
            problems.append("submit is required when an input block is present [json-pointer:/view/submit]")
    if len(str(payload.get("private_metadata", ""))) > 3000:
        problems.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
    if len(str(payload.get("callback_id", ""))) > 255:
        problems.append("must be less than 256 characters [json-pointer:/view/callback_id]")
    blocks = payload.get("blocks")
    if not isinstance(blocks, list):
        problems.append("missing required field: blocks [json-pointer:/view]")
    if problems:
        raise _ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    assert isinstance(blocks, list)
    return {**payload, "blocks": _normalise_blocks(blocks, VIEW_BLOCK_LIMIT, "invalid_arguments")}


def _find_element(
    blocks: Iterable[Any], action_id: str, value: str | None, block_id: str | None
) -> tuple[str, JSON] | None:
    """The element a click targets; among same ``action_id`` buttons, the one with ``value``."""
    candidates: list[tuple[str, JSON]] = []
    for block in blocks:
        if not isinstance(block, dict) or (block_id is not None and block.get("block_id") != block_id):
            continue
        for element in _interactive_elements(block):
            if element.get("action_id") == action_id:
                candidates.append((str(block.get("block_id", "")), element))
    for candidate in candidates:
        if value is not None and candidate[1].get("value") == value:
            return candidate
    return candidates[0] if candidates else None


def _plain_text(value: Any) -> Any:
    """Slack stores ``plain_text`` objects with ``emoji: true`` unless told otherwise."""
    if isinstance(value, dict) and value.get("type") == "plain_text" and "emoji" not in value:
        return {**value, "emoji": True}
    return value


def _options(element: JSON) -> list[JSON]:
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        options.extend(o for o in group.get("options") or [] if isinstance(o, dict))
    return options


def _option(element: JSON, value: Any) -> JSON:
    for option in _options(element):
        if option.get("value") == str(value):
            return {k: v for k, v in option.items() if k in ("text", "value", "description")}
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


def _element_state(element: JSON, raw: Any) -> JSON:
    """The ``state.values`` entry Slack sends for ``element`` when the user entered ``raw``."""
    kind = str(element.get("type", "plain_text_input"))
    if kind in ("static_select", "external_select", "radio_buttons"):
        return {"type": kind, "selected_option": None if raw is None else _option(element, raw)}
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        if raw is True:
            raw = [o.get("value") for o in _options(element)[:1]]
        values = [] if raw in (None, False) else raw if isinstance(raw, list) else [raw]
        return {"type": kind, "selected_options": [_option(element, v) for v in values]}
    single = {
        "datepicker": "selected_date",
        "timepicker": "selected_time",
        "datetimepicker": "selected_date_time",
        "users_select": "selected_user",
        "conversations_select": "selected_conversation",
        "channels_select": "selected_channel",
    }
    if kind in single:
        return {"type": kind, single[kind]: raw}
    return {"type": kind, "value": None if raw is None else str(raw)}


def _state_values(blocks: Iterable[Any], given: Mapping[str, Mapping[str, Any]]) -> JSON:
    """``view.state.values``: every input of the view, filled from ``given``.

    A given value that is a dict is sent as is; anything else is shaped for the element
    (a select gets ``selected_option`` of the option with that value, etc.).
    """
    state: JSON = {}
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element, block_id = block["element"], str(block.get("block_id"))
        action_id = str(element.get("action_id"))
        raw = given.get(block_id, {}).get(action_id)
        state.setdefault(block_id, {})[action_id] = raw if isinstance(raw, dict) else _element_state(element, raw)
    for block_id, actions in given.items():
        for action_id, raw in actions.items():
            if action_id not in state.get(block_id, {}):
                entry = raw if isinstance(raw, dict) else {"type": "plain_text_input", "value": raw}
                state.setdefault(block_id, {})[action_id] = entry
    return state


# --------------------------------------------------------------------------------------
# State


class _Views:
    """Modals (a stack per user, like Slack's) and App Home tabs (one per user)."""

    def __init__(self, identity: SlackIdentity, ids: _Ids) -> None:
        self._identity = identity
        self._ids = ids
        self.by_id: dict[str, SlackView] = {}
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._external: dict[str, str] = {}

    def modal(self, user_id: str) -> SlackView | None:
        stack = self._stacks.get(user_id)
        return self.by_id[stack[-1]] if stack else None

    def home(self, user_id: str) -> SlackView | None:
        view_id = self._homes.get(user_id)
        return self.by_id[view_id] if view_id else None

    def open(self, user_id: str, payload: Any) -> SlackView:
        view = self._create(user_id, _checked_view(payload, "modal"), None, None)
        for old in self._stacks.get(user_id, []):
            self.by_id[old].closed = True
        self._stacks[user_id] = [view.id]
        return view

    def push(self, user_id: str, payload: Any) -> SlackView:
        top = self.modal(user_id)
        if top is None:
            raise _ApiError("not_found")
        stack = self._stacks[user_id]
        if len(stack) >= MODAL_STACK_LIMIT:
            raise _ApiError("push_limit_reached")
        view = self._create(user_id, _checked_view(payload, "modal"), top.view["root_view_id"], top.id)
        stack.append(view.id)
        return view

    def update(self, view_id: str | None, external_id: str | None, payload: Any, hash_: str | None) -> SlackView:
        view_id = view_id or self._external.get(external_id or "")
        view = self.by_id.get(view_id or "")
        if view is None or view.closed:
            raise _ApiError("not_found")
        if hash_ is not None and hash_ != view.view["hash"]:
            raise _ApiError("hash_conflict")
        checked = _checked_view(payload, view.type)
        view.view = self._render(view.id, checked, view.view["root_view_id"], view.view["previous_view_id"])
        view.errors = None
        return view

    def publish(self, user_id: str, payload: Any, hash_: str | None) -> SlackView:
        checked = _checked_view(payload, "home")
        view = self.home(user_id)
        if view is None:
            return self._create(user_id, checked, None, None, home=True)
        if hash_ is not None and hash_ != view.view["hash"]:
            raise _ApiError("hash_conflict")
        view.view = self._render(view.id, checked, view.id, None)
        return view

    def close(self, view_id: str, *, whole_stack: bool = False) -> None:
        view = self.by_id[view_id]
        stack = self._stacks.get(view.user_id, [])
        closing = list(stack) if whole_stack else [view_id]
        for closed_id in closing:
            self.by_id[closed_id].closed = True
            if closed_id in stack:
                stack.remove(closed_id)

    def apply_submission(self, view_id: str, answer: Any) -> None:
        """Do what Slack does with the product's answer to a view submission."""
        view = self.by_id.get(view_id)
        if view is None:
            return
        action = answer.get("response_action") if isinstance(answer, dict) else None
        try:
            if action == "errors":
                view.errors = dict(answer.get("errors") or {})
            elif action == "update":
                self.update(view_id, None, answer.get("view"), None)
            elif action == "push":
                self.push(view.user_id, answer.get("view"))
            else:
                self.close(view_id, whole_stack=action == "clear")
        except _ApiError as exc:  # Slack shows the user an error and keeps the view
            view.errors = {"response_action": exc.error}

    def _create(
        self, user_id: str, payload: JSON, root: str | None, previous: str | None, *, home: bool = False
    ) -> SlackView:
        external_id = str(payload.get("external_id") or "")
        if external_id and external_id in self._external:
            raise _ApiError("duplicate_external_id")
        view_id = self._ids.new("V")
        view = SlackView(view_id, user_id, self._render(view_id, payload, root or view_id, previous))
        self.by_id[view_id] = view
        if external_id:
            self._external[external_id] = view_id
        if home:
            self._homes[user_id] = view_id
        return view

    def _render(self, view_id: str, payload: JSON, root: str, previous: str | None) -> JSON:
        ident = self._identity
        close = payload.get("close")
        if close is None and payload["type"] == "modal":
            close = {"type": "plain_text", "text": "Cancel"}
        return {
            "id": view_id,
            "team_id": ident.team_id,
            "type": payload["type"],
            "blocks": payload["blocks"],
            "private_metadata": str(payload.get("private_metadata", "")),
            "callback_id": str(payload.get("callback_id", "")),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": _plain_text(payload.get("title")),
            "clear_on_close": bool(payload.get("clear_on_close", False)),
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "close": _plain_text(close),
            "submit": _plain_text(payload.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": ident.app_id,
            "external_id": str(payload.get("external_id", "")),
            "app_installed_team_id": ident.team_id,
            "bot_id": ident.bot_id,
        }


class _Triggers:
    """Trigger ids issued with interactions: valid ``ttl`` seconds, usable once."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._issued: dict[str, _Trigger] = {}
        self._counter = itertools.count(1)

    def issue(self, user_id: str) -> str:
        trigger_id = f"{next(self._counter)}.{int(time.time())}.{secrets.token_hex(16)}"
        self._issued[trigger_id] = _Trigger(user_id, time.monotonic())
        return trigger_id

    def exchange(self, trigger_id: str | None) -> str:
        """The user the trigger was issued for; refuses unknown, used or expired ones."""
        trigger = self._issued.get(trigger_id or "")
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger.used:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.ttl:
            raise _ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user_id


class SlackWorkspace:
    """Everything the sandbox remembers: users, channels, messages, ephemerals, views, files."""

    def __init__(self, identity: SlackIdentity, *, trigger_ttl: float = 3.0) -> None:
        self.identity = identity
        self.base_url = "http://sandbox.invalid"
        self.clock = _Clock()
        self.ids = _Ids()
        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, SlackChannel] = {}
        self.files: dict[str, SlackFile] = {}
        self.views = _Views(identity, self.ids)
        self.triggers = _Triggers(trigger_ttl)
        self.response_urls: dict[str, _ResponseUrl] = {}
        self._ephemerals: dict[str, list[JSON]] = {}
        self._dms: dict[str, str] = {}
        self.add_user(identity.bot_user_id, identity.bot_name, is_bot=True)

    # -- users and channels

    def add_user(self, user_id: str, name: str, display_name: str | None = None, is_bot: bool = False) -> SlackUser:
        user = SlackUser(user_id, name, display_name or "", is_bot, self.identity.team_id)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: list[str] | None = None,
        is_member: bool = True,
        is_private: bool = False,
    ) -> SlackChannel:
        channel = SlackChannel(
            channel_id, name.lstrip("#"), is_private=is_private, members=members, is_member=is_member
        )
        self.channels[channel_id] = channel
        return channel

    def open_dm(self, user_id: str, channel_id: str | None = None) -> tuple[SlackChannel, bool]:
        """The app's DM with ``user_id`` (one per user, stable id ``D…``) and whether it is new."""
        existing = self._dms.get(user_id)
        if existing is not None:
            return self.channels[existing], False
        channel_id = channel_id or "D" + (user_id[1:] if user_id[:1] in ("U", "W") else user_id)
        channel = SlackChannel(
            channel_id,
            channel_id,
            is_im=True,
            is_private=True,
            user=user_id,
            members=[user_id, self.identity.bot_user_id],
        )
        self.channels[channel_id] = channel
        self._dms[user_id] = channel_id
        return channel, True

    def dm(self, user_id: str) -> str:
        """The id of the app's DM channel with ``user_id`` (opened if needed)."""
        return self.open_dm(user_id)[0].id

    def channel(self, ref: str) -> SlackChannel:
        """A channel by id, by ``#name`` / name, or a user id (the app's DM with that user)."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.open_dm(ref)[0]
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        raise _ApiError("channel_not_found")

    def writable(self, ref: str) -> SlackChannel:
        channel = self.channel(ref)
        if not channel.is_member:
            raise _ApiError("not_in_channel")
        return channel

    def channel_for_event(self, channel_id: str, user_id: str) -> SlackChannel:
        """The channel an inbound message lands in; unknown ``D…`` ids become that user's DM."""
        if channel_id in self.channels:
            return self.channels[channel_id]
        if channel_id.startswith("D"):
            return self.open_dm(user_id, channel_id)[0]
        return self.add_channel(channel_id, channel_id.lower())

    # -- messages

    def bot_message(self, text: str, **fields: Any) -> JSON:
        ident = self.identity
        message: JSON = {
            "type": "message",
            "text": text,
            "user": ident.bot_user_id,
            "bot_id": ident.bot_id,
            "app_id": ident.app_id,
            "team": ident.team_id,
            "bot_profile": ident.bot_profile(),
        }
        message.update({k: v for k, v in fields.items() if v is not None})
        return message

    def post_bot(
        self,
        channel: SlackChannel,
        text: str,
        blocks: list[JSON] | None = None,
        thread_ts: str | None = None,
        **fields: Any,
    ) -> JSON:
        message = self.bot_message(text, blocks=blocks, ts=self.clock.next_ts(), **fields)
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = channel.messages.get(thread_ts)
            if parent is not None and parent.get("user"):
                message["parent_user_id"] = parent["user"]
        return channel.post(message)

    def edit(self, message: JSON, text: str, blocks: list[JSON] | None, editor: str) -> None:
        message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        else:
            message.pop("blocks", None)
        message["edited"] = {"user": editor, "ts": self.clock.next_ts()}

    def channel_messages(self, channel_id: str) -> list[JSON]:
        channel = self.channels.get(channel_id)
        return copy.deepcopy(channel.roots()) if channel else []

    def thread(self, channel_id: str, thread_ts: str) -> list[JSON]:
        channel = self.channels.get(channel_id)
        return copy.deepcopy(channel.thread(thread_ts)) if channel else []

    def message(self, channel_id: str, ts: str) -> JSON | None:
        channel = self.channels.get(channel_id)
        message = channel.messages.get(ts) if channel else None
        return copy.deepcopy(channel.render(message)) if channel and message else None

    # -- ephemerals ("only visible to you")

    def record_ephemeral(
        self,
        user_id: str,
        text: str | None = None,
        blocks: list[JSON] | None = None,
        *,
        channel: str | None = None,
        thread_ts: str | None = None,
        source: str = "ack",
    ) -> JSON:
        """Remember a message only ``user_id`` sees; ``source`` tells where it came from."""
        entry: JSON = {
            "type": "message",
            "ts": self.clock.next_ts(),
            "channel": channel,
            "user": user_id,
            "text": text or "",
            "source": source,
        }
        if blocks is not None:
            entry["blocks"] = blocks
        if thread_ts:
            entry["thread_ts"] = thread_ts
        self._ephemerals.setdefault(user_id, []).append(entry)
        return entry

    def ephemeral(self, user_id: str) -> list[JSON]:
        return copy.deepcopy(self._ephemerals.get(user_id, []))

    def find_ephemeral(self, user_id: str, ts: str) -> JSON | None:
        return next((e for e in self._ephemerals.get(user_id, []) if e["ts"] == ts), None)

    def show_command_answer(self, body: JSON, user_id: str, channel_id: str) -> None:
        """A slash command's ack body (HTTP response or Socket Mode ack payload), as the user sees it."""
        text, blocks = str(body.get("text") or ""), body.get("blocks")
        if not text and not blocks:
            return
        if body.get("response_type") == "in_channel" and channel_id in self.channels:
            self.post_bot(self.channels[channel_id], text, blocks)
        else:
            self.record_ephemeral(user_id, text, blocks, channel=channel_id, source="ack")

    # -- response URLs

    def issue_response_url(self, target: _ResponseUrl) -> str:
        token = secrets.token_urlsafe(18)
        self.response_urls[token] = target
        return f"{self.base_url}/response/{token}"

    def respond(self, target: _ResponseUrl, body: JSON) -> None:
        """What Slack does with a POST to a response URL (Bolt's ``respond()``)."""
        text, blocks = str(body.get("text") or ""), body.get("blocks")
        if _Params(body).flag("delete_original"):
            self._delete_origin(target)
            return
        if not text and not blocks:
            raise _ApiError("no_text")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise _ApiError("invalid_blocks")
            blocks = _normalise_blocks(blocks, MESSAGE_BLOCK_LIMIT, "invalid_blocks")
        if _Params(body).flag("replace_original") and target.origin_ts and self._replace_origin(target, text, blocks):
            return
        thread_ts = body.get("thread_ts")
        if body.get("response_type") == "in_channel" and target.channel_id:
            self.post_bot(self.channel(target.channel_id), text, blocks, thread_ts)
            return
        entry = self.record_ephemeral(
            target.user_id, text, blocks, channel=target.channel_id, thread_ts=thread_ts, source="response_url"
        )
        # later replace_original calls through this URL replace this answer
        target.origin_ts, target.origin_ephemeral = entry["ts"], True

    def _replace_origin(self, target: _ResponseUrl, text: str, blocks: list[JSON] | None) -> bool:
        assert target.origin_ts is not None
        if target.origin_ephemeral:
            entry = self.find_ephemeral(target.user_id, target.origin_ts)
            if entry is None:
                return False
            entry["text"] = text
            entry.pop("blocks", None)
            if blocks is not None:
                entry["blocks"] = blocks
            return True
        channel = self.channels.get(target.channel_id or "")
        message = channel.messages.get(target.origin_ts) if channel else None
        if message is None:
            return False
        self.edit(message, text, blocks, self.identity.bot_user_id)
        return True

    def _delete_origin(self, target: _ResponseUrl) -> None:
        if target.origin_ts is None:
            return
        if target.origin_ephemeral:
            entries = self._ephemerals.get(target.user_id, [])
            entries[:] = [e for e in entries if e["ts"] != target.origin_ts]
            return
        channel = self.channels.get(target.channel_id or "")
        if channel is not None and target.origin_ts in channel.messages:
            channel.delete(target.origin_ts)

    # -- files

    def add_file(
        self, content: bytes, name: str, *, user_id: str, title: str | None = None, mimetype: str | None = None
    ) -> SlackFile:
        """A file as if ``user_id`` uploaded it (for messages customers send with files)."""
        file = self.new_file(name, len(content), user_id, title=title, mimetype=mimetype)
        file.content = content
        return file

    def new_file(
        self, name: str, length: int, user_id: str, *, title: str | None = None, mimetype: str | None = None
    ) -> SlackFile:
        guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
        file = SlackFile(self.ids.new("F"), name, title or name, user_id, mimetype or guessed, length)
        self.files[file.id] = file
        return file

    def file_json(self, file: SlackFile) -> JSON:
        return file.to_api(self.base_url, self.identity, self.channels)


# --------------------------------------------------------------------------------------
# Web API


class _WebApi:
    """One small function per Web API method, over :class:`SlackWorkspace`."""

    def __init__(self, ws: SlackWorkspace) -> None:
        self.ws = ws
        self.methods: dict[str, Callable[[_Params], JSON]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "views.publish": self.views_publish,
            "users.info": self.users_info,
            "users.list": self.users_list,
            "conversations.info": self.conversations_info,
            "conversations.open": self.conversations_open,
            "conversations.replies": self.conversations_replies,
            "conversations.history": self.conversations_history,
            "conversations.join": self.conversations_join,
            "reactions.add": self.reactions_add,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
            "files.info": self.files_info,
        }

    # -- helpers

    def _content(self, p: _Params) -> tuple[str, list[JSON] | None, list[Any] | None]:
        text = p.get("text") or ""
        blocks = p.array("blocks", "invalid_blocks_format")
        attachments = p.array("attachments", "invalid_attachments")
        if not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if len(text) > TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        if blocks is not None:
            blocks = _normalise_blocks(blocks, MESSAGE_BLOCK_LIMIT, "invalid_blocks")
        return text, blocks, attachments

    def _message(self, p: _Params, ts_param: str = "ts") -> tuple[SlackChannel, JSON]:
        channel = self.ws.channel(p.require("channel", "channel_not_found"))
        message = channel.messages.get(p.require(ts_param, "message_not_found"))
        if message is None or message.get("subtype") == "tombstone":
            raise _ApiError("message_not_found")
        return channel, message

    def _own(self, message: JSON) -> bool:
        return message.get("user") == self.ws.identity.bot_user_id or message.get("bot_id") == self.ws.identity.bot_id

    # -- auth, chat

    def auth_test(self, p: _Params) -> JSON:
        ident = self.ws.identity
        result: JSON = {
            "url": ident.url,
            "team": ident.team_name,
            "user": ident.bot_name,
            "team_id": ident.team_id,
            "user_id": ident.bot_user_id,
            "bot_id": ident.bot_id,
            "is_enterprise_install": False,
        }
        if ident.enterprise_id:
            result["enterprise_id"] = ident.enterprise_id
        return result

    def chat_post_message(self, p: _Params) -> JSON:
        channel = self.ws.writable(p.require("channel", "channel_not_found"))
        text, blocks, attachments = self._content(p)
        thread_ts = p.get("thread_ts")
        icon_emoji = p.get("icon_emoji")
        message = self.ws.post_bot(
            channel,
            text,
            blocks,
            thread_ts,
            attachments=attachments,
            metadata=p.obj("metadata", "invalid_metadata_format"),
            username=p.get("username"),
            icons={"emoji": icon_emoji} if icon_emoji else None,
            subtype="thread_broadcast" if thread_ts and p.flag("reply_broadcast") else None,
        )
        return {"channel": channel.id, "ts": message["ts"], "message": channel.render(message)}

    def chat_update(self, p: _Params) -> JSON:
        channel, message = self._message(p)
        if not self._own(message):
            raise _ApiError("cant_update_message")
        text, blocks, attachments = self._content(p)
        self.ws.edit(message, text, blocks, self.ws.identity.bot_user_id)
        if attachments is not None:
            message["attachments"] = attachments
        return {"channel": channel.id, "ts": message["ts"], "text": text, "message": channel.render(message)}

    def chat_delete(self, p: _Params) -> JSON:
        channel, message = self._message(p)
        if not self._own(message):
            raise _ApiError("cant_delete_message")
        channel.delete(message["ts"])
        return {"channel": channel.id, "ts": message["ts"]}

    def chat_post_ephemeral(self, p: _Params) -> JSON:
        channel = self.ws.writable(p.require("channel", "channel_not_found"))
        user = p.require("user", "user_not_in_channel")
        if channel.members is not None and user not in channel.members:
            raise _ApiError("user_not_in_channel")
        text, blocks, _ = self._content(p)
        entry = self.ws.record_ephemeral(
            user, text, blocks, channel=channel.id, thread_ts=p.get("thread_ts"), source="chat.postEphemeral"
        )
        return {"message_ts": entry["ts"]}

    def chat_get_permalink(self, p: _Params) -> JSON:
        channel, message = self._message(p, "message_ts")
        link = f"{self.ws.identity.url}archives/{channel.id}/p{message['ts'].replace('.', '')}"
        if not channel.is_root(message):
            link += f"?thread_ts={message['thread_ts']}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    # -- views

    def views_open(self, p: _Params) -> JSON:
        user_id = self.ws.triggers.exchange(p.get("trigger_id") or p.get("interactivity_pointer"))
        return {"view": self.ws.views.open(user_id, p.obj("view")).view}

    def views_push(self, p: _Params) -> JSON:
        user_id = self.ws.triggers.exchange(p.get("trigger_id") or p.get("interactivity_pointer"))
        return {"view": self.ws.views.push(user_id, p.obj("view")).view}

    def views_update(self, p: _Params) -> JSON:
        view = self.ws.views.update(p.get("view_id"), p.get("external_id"), p.obj("view"), p.get("hash"))
        return {"view": view.view}

    def views_publish(self, p: _Params) -> JSON:
        view = self.ws.views.publish(p.require("user_id"), p.obj("view"), p.get("hash"))
        return {"view": view.view}

    # -- users, conversations

    def users_info(self, p: _Params) -> JSON:
        user = self.ws.users.get(p.require("user", "user_not_found"))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user.to_api()}

    def users_list(self, p: _Params) -> JSON:
        members, cursor = _paginate([u.to_api() for u in self.ws.users.values()], p, 200)
        return {"members": members, "cache_ts": int(time.time()), "response_metadata": {"next_cursor": cursor}}

    def conversations_info(self, p: _Params) -> JSON:
        return {"channel": self.ws.channel(p.require("channel", "channel_not_found")).to_api()}

    def conversations_open(self, p: _Params) -> JSON:
        if p.get("channel"):
            return {"channel": self.ws.channel(p.require("channel")).to_api()}
        users = [u.strip() for u in (p.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise _ApiError("too_many_users")
        for user_id in users:
            if user_id not in self.ws.users:
                raise _ApiError("user_not_found")
        if len(users) == 1:
            channel, created = self.ws.open_dm(users[0])
        else:
            channel, created = self._open_mpim(users)
        result: JSON = {"channel": channel.to_api() if p.flag("return_im") else {"id": channel.id}}
        if not created:
            result.update(no_op=True, already_open=True)
        return result

    def _open_mpim(self, users: list[str]) -> tuple[SlackChannel, bool]:
        members = sorted({*users, self.ws.identity.bot_user_id})
        name = "mpdm-" + "--".join(self.ws.users[u].username for u in members) + "-1"
        for channel in self.ws.channels.values():
            if channel.name == name:
                return channel, False
        channel = self.ws.add_channel(self.ws.ids.new("G"), name, members=members, is_private=True)
        return channel, True

    def conversations_replies(self, p: _Params) -> JSON:
        channel = self.ws.channel(p.require("channel", "channel_not_found"))
        ts = p.require("ts", "thread_not_found")
        root = channel.messages.get(ts)
        if root is None:
            raise _ApiError("thread_not_found")
        thread_ts = root.get("thread_ts") or ts
        head = channel.messages.get(thread_ts, root)
        items = [channel.render(head), *channel.thread(thread_ts)]
        page, cursor = _paginate(items, p, 1000)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def conversations_history(self, p: _Params) -> JSON:
        channel = self.ws.channel(p.require("channel", "channel_not_found"))
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        inclusive = p.flag("inclusive")

        def within(ts: str) -> bool:
            value = float(ts)
            return (oldest <= value <= latest) if inclusive else (oldest < value < latest)

        items = [m for m in reversed(channel.roots()) if within(m["ts"])]
        page, cursor = _paginate(items, p, 100)
        return {
            "messages": page,
            "has_more": bool(cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def conversations_join(self, p: _Params) -> JSON:
        channel = self.ws.channel(p.require("channel", "channel_not_found"))
        if channel.is_im or channel.is_private:
            raise _ApiError("method_not_supported_for_channel_type")
        result: JSON = {}
        if channel.is_member:
            result["warning"] = "already_in_channel"
        channel.is_member = True
        if channel.members is not None and self.ws.identity.bot_user_id not in channel.members:
            channel.members.append(self.ws.identity.bot_user_id)
        return {"channel": channel.to_api(), **result}

    def reactions_add(self, p: _Params) -> JSON:
        _, message = self._message(p, "timestamp")
        name = p.require("name", "invalid_name").strip(":")
        reactions: list[JSON] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        bot = self.ws.identity.bot_user_id
        if bot in reaction["users"]:
            raise _ApiError("already_reacted")
        reaction["users"].append(bot)
        reaction["count"] += 1
        return {}

    # -- files

    def files_get_upload_url(self, p: _Params) -> JSON:
        length = p.number("length", -1)
        if length < 0:
            raise _ApiError("invalid_arguments")
        file = self.ws.new_file(p.require("filename"), length, self.ws.identity.bot_user_id)
        return {"upload_url": f"{self.ws.base_url}/upload/v1/{file.id}", "file_id": file.id}

    def files_complete_upload(self, p: _Params) -> JSON:
        specs = p.array("files") or []
        files: list[SlackFile] = []
        for spec in specs:
            file = self.ws.files.get(str(spec.get("id") if isinstance(spec, dict) else ""))
            if file is None or file.content is None:
                raise _ApiError("file_not_found")
            if isinstance(spec, dict) and spec.get("title"):
                file.title = str(spec["title"])
            files.append(file)
        if not files:
            raise _ApiError("invalid_arguments")
        targets = [p.get("channel_id")] if p.get("channel_id") else (p.get("channels") or "").split(",")
        for ref in filter(None, targets):
            self._share(self.ws.writable(ref), files, p.get("initial_comment") or "", p.get("thread_ts"))
        return {"files": [self.ws.file_json(f) for f in files]}

    def _share(self, channel: SlackChannel, files: list[SlackFile], comment: str, thread_ts: str | None) -> None:
        message = self.ws.post_bot(
            channel,
            comment,
            None,
            thread_ts,
            upload=True,
            display_as_bot=False,
            files=[self.ws.file_json(f) for f in files],
        )
        for file in files:
            share: JSON = {
                "ts": message["ts"],
                "channel_name": channel.name,
                "team_id": self.ws.identity.team_id,
                "share_user_id": self.ws.identity.bot_user_id,
            }
            if thread_ts:
                share["thread_ts"] = thread_ts
            file.shares.setdefault(channel.id, []).append(share)
        message["files"] = [self.ws.file_json(f) for f in files]

    def files_info(self, p: _Params) -> JSON:
        file = self.ws.files.get(p.require("file", "file_not_found"))
        if file is None:
            raise _ApiError("file_not_found")
        return {"file": self.ws.file_json(file), "comments": [], "response_metadata": {"next_cursor": ""}}


# --------------------------------------------------------------------------------------
# Inbound payloads (the Slack side)


class SlackPayloads:
    """Builders of the requests Slack sends to an app, shaped like the reference payloads.

    Each returns ``(body, content_type)`` ready for :meth:`SlackSandbox.send`. Trigger ids
    and response URLs are issued by the workspace, so ``views.open`` and ``respond()``
    work with them exactly once / until they expire, as with Slack.
    """

    def __init__(self, ws: SlackWorkspace) -> None:
        self.ws = ws

    @property
    def _ident(self) -> SlackIdentity:
        return self.ws.identity

    def _user(self, user_id: str) -> JSON:
        user = self.ws.users.get(user_id)
        username = user.username if user else user_id.lower()
        return {"id": user_id, "username": username, "name": username, "team_id": self._ident.team_id}

    def _channel_name(self, channel_id: str) -> str:
        channel = self.ws.channels.get(channel_id)
        if channel is not None:
            return "directmessage" if channel.is_im else channel.name
        return "directmessage" if channel_id.startswith("D") else "privategroup"

    def _response_url(
        self, user_id: str, channel_id: str | None, origin_ts: str | None = None, ephemeral: bool = False
    ) -> str:
        return self.ws.issue_response_url(_ResponseUrl(user_id, channel_id, origin_ts, ephemeral))

    def _interaction_base(self, kind: str, user_id: str) -> JSON:
        return {
            "type": kind,
            "team": self._ident.team(),
            "user": self._user(user_id),
            "api_app_id": self._ident.app_id,
            "token": self._ident.verification_token,
            "trigger_id": self.ws.triggers.issue(user_id),
            "enterprise": self._ident.enterprise(),
            "is_enterprise_install": False,
        }

    # -- slash commands and interactions

    def slash_command(
        self, command: str, text: str, user_id: str, channel_id: str, *, user_name: str | None = None
    ) -> tuple[str, str]:
        ident = self._ident
        fields = {"token": ident.verification_token, "team_id": ident.team_id, "team_domain": ident.team_domain}
        if ident.enterprise_id:
            fields.update(enterprise_id=ident.enterprise_id, enterprise_name=ident.enterprise_name or "")
        fields.update(
            channel_id=channel_id,
            channel_name=self._channel_name(channel_id),
            user_id=user_id,
            user_name=user_name or self._user(user_id)["username"],
            command=command if command.startswith("/") else "/" + command,
            text=text,
            api_app_id=ident.app_id,
            is_enterprise_install="false",
            response_url=self._response_url(user_id, channel_id),
            trigger_id=self.ws.triggers.issue(user_id),
        )
        return _form(fields)

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None = None,
        *,
        channel_id: str | None = None,
        message_ts: str | None = None,
        thread_ts: str | None = None,
        container_ephemeral: bool = False,
        block_id: str | None = None,
        view: str | None = None,
        selected_option: JSON | None = None,
    ) -> tuple[str, str]:
        """A click on ``action_id`` in a message (``channel_id`` + ``message_ts``) or a view (``view`` id).

        The element is looked up in the stored message, ephemeral or view, so the
        action carries its real ``block_id``, ``type`` and ``text``.
        """
        payload = self._interaction_base("block_actions", user_id)
        blocks: list[Any] = []
        if view is not None:
            stored = self.ws.views.by_id.get(view)
            view_json: JSON = copy.deepcopy(stored.view) if stored else {"id": view, "state": {"values": {}}}
            blocks = view_json.get("blocks") or []
            payload["container"] = {"type": "view", "view_id": view}
            payload["view"] = view_json
        else:
            if channel_id is None:
                raise ValueError("block_action needs channel_id (message) or view (view id)")
            blocks, thread_ts, container_ephemeral = self._message_container(
                payload, user_id, channel_id, message_ts, thread_ts, container_ephemeral
            )
        found = _find_element(blocks, action_id, value, block_id)
        payload["actions"] = [self._action(action_id, value, block_id, selected_option, found)]
        return _interaction(payload)

    def _message_container(
        self,
        payload: JSON,
        user_id: str,
        channel_id: str,
        message_ts: str | None,
        thread_ts: str | None,
        ephemeral: bool,
    ) -> tuple[list[Any], str | None, bool]:
        channel = self.ws.channels.get(channel_id)
        ts = message_ts or self.ws.clock.next_ts()
        message = channel.messages.get(ts) if channel and not ephemeral else None
        entry = self.ws.find_ephemeral(user_id, ts) if message is None else None
        ephemeral = ephemeral or entry is not None
        source = message or entry or {}
        thread_ts = thread_ts or source.get("thread_ts")
        container: JSON = {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": ephemeral}
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload["container"] = container
        payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
        if message is not None and channel is not None:
            payload["message"] = channel.render(message)
        payload["state"] = {"values": {}}
        payload["response_url"] = self._response_url(user_id, channel_id, ts, ephemeral)
        return list(source.get("blocks") or []), thread_ts, ephemeral

    def _action(
        self,
        action_id: str,
        value: str | None,
        block_id: str | None,
        selected_option: JSON | None,
        found: tuple[str, JSON] | None,
    ) -> JSON:
        element = found[1] if found else {}
        kind = element.get("type") or ("static_select" if selected_option else "button")
        action: JSON = {"action_id": action_id, "block_id": block_id or (found[0] if found else "b"), "type": kind}
        if kind == "button":
            action["text"] = _plain_text(element.get("text") or {"type": "plain_text", "text": action_id})
            if value is not None:
                action["value"] = value
            if element.get("style"):
                action["style"] = element["style"]
        else:
            option = selected_option or (_option(element, value) if value is not None else None)
            if option is not None:
                action["selected_option"] = option
            if element.get("placeholder"):
                action["placeholder"] = element["placeholder"]
        action["action_ts"] = self.ws.clock.next_ts()
        return action

    def view_submission(
        self,
        user_id: str,
        view_id: str,
        callback_id: str | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        private_metadata: str | None = None,
    ) -> tuple[str, str]:
        """A submit of the view ``view_id``: its stored payload with ``state.values`` filled from ``values``."""
        stored = self.ws.views.by_id.get(view_id)
        view = copy.deepcopy(stored.view) if stored else self._unknown_view(view_id)
        if callback_id is not None:
            view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {"values": _state_values(view.get("blocks") or [], values or {})}
        payload = self._interaction_base("view_submission", user_id)
        payload.update(view=view, response_urls=[])
        return _interaction(payload)

    def _unknown_view(self, view_id: str) -> JSON:
        ident = self._ident
        return {
            "id": view_id,
            "team_id": ident.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{int(time.time())}.sandbox",
            "title": {"type": "plain_text", "text": "View"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": ident.app_id,
            "external_id": "",
            "app_installed_team_id": ident.team_id,
            "bot_id": ident.bot_id,
        }

    def message_shortcut(
        self,
        user_id: str,
        callback_id: str,
        channel_id: str,
        message_ts: str,
        thread_ts: str | None = None,
        text: str | None = None,
    ) -> tuple[str, str]:
        """The "…" menu action on a message (``type: message_action``)."""
        channel = self.ws.channels.get(channel_id)
        stored = channel.messages.get(message_ts) if channel else None
        if stored is not None and channel is not None:
            message = channel.render(stored)
        else:
            message = {"type": "message", "text": text or "", "ts": message_ts}
            if thread_ts:
                message["thread_ts"] = thread_ts
        user = self._user(user_id)
        payload: JSON = {
            "type": "message_action",
            "token": self._ident.verification_token,
            "action_ts": self.ws.clock.next_ts(),
            "team": self._ident.team(),
            "user": {"id": user_id, "name": user["name"], "username": user["username"], "team_id": user["team_id"]},
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "is_enterprise_install": False,
            "enterprise": self._ident.enterprise(),
            "callback_id": callback_id,
            "trigger_id": self.ws.triggers.issue(user_id),
            "response_url": self._response_url(user_id, channel_id),
            "message_ts": message_ts,
            "message": message,
        }
        return _interaction(payload)

    # -- Events API

    def event(self, event: Mapping[str, Any], *, event_id: str | None = None) -> tuple[str, str]:
        """The ``event_callback`` envelope around ``event``."""
        ident = self._ident
        context = {"et": event.get("type"), "tid": ident.team_id, "aid": ident.app_id, "cid": event.get("channel")}
        body: JSON = {"token": ident.verification_token, "team_id": ident.team_id}
        if ident.enterprise_id:
            body["enterprise_id"] = ident.enterprise_id
        body.update(
            api_app_id=ident.app_id,
            event=dict(event),
            type="event_callback",
            event_id=event_id or self.ws.ids.new("Ev"),
            event_time=int(time.time()),
            authorizations=[
                {
                    "enterprise_id": ident.enterprise_id,
                    "team_id": ident.team_id,
                    "user_id": ident.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            authed_users=[ident.bot_user_id],
            is_ext_shared_channel=False,
            event_context="4-" + base64.urlsafe_b64encode(_dumps(context).encode()).decode().rstrip("="),
        )
        return _dumps(body), JSON_CONTENT

    def message_event(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        ts: str | None = None,
        channel_type: str | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        files: list[SlackFile] | None = None,
        event_id: str | None = None,
    ) -> tuple[str, str]:
        """A ``message`` event from ``user_id``; the message is stored in the channel (and thread).

        ``channel_type`` defaults to the channel's (``im`` for ``D…`` ids).
        """
        channel = self.ws.channel_for_event(channel_id, user_id)
        ts = ts or self.ws.clock.next_ts()
        message: JSON = {"type": "message", "text": text, "user": user_id, "ts": ts, "team": self._ident.team_id}
        if bot_id:
            message["bot_id"] = bot_id
        else:
            message = {"client_msg_id": str(uuid.uuid4()), **message}
        if text:
            message["blocks"] = _rich_text(text)
        if subtype or files:
            message["subtype"] = subtype or "file_share"
        if files:
            message.update(files=[self.ws.file_json(f) for f in files], upload=False, display_as_bot=False)
        if thread_ts:
            parent = channel.messages.get(thread_ts)
            message.update(thread_ts=thread_ts, parent_user_id=(parent or {}).get("user", user_id))
        channel.post(message)
        event = {**message, "channel": channel.id, "event_ts": ts, "channel_type": channel_type or channel.channel_type}
        return self.event(event, event_id=event_id)

    def message_changed_event(
        self, user_id: str, channel_id: str, ts: str, text: str, *, event_id: str | None = None
    ) -> tuple[str, str]:
        """A person edited their message ``ts``: stored text changes, ``message_changed`` event."""
        channel = self.ws.channel(channel_id)
        stored = channel.messages.get(ts)
        if stored is None:
            raise KeyError(f"no message {ts} in {channel_id}")
        previous = copy.deepcopy(stored)
        self.ws.edit(stored, text, _rich_text(text), user_id)
        event_ts = self.ws.clock.next_ts()
        event = {
            "type": "message",
            "subtype": "message_changed",
            "message": copy.deepcopy(stored),
            "previous_message": previous,
            "channel": channel.id,
            "hidden": True,
            "ts": event_ts,
            "event_ts": event_ts,
            "channel_type": channel.channel_type,
        }
        return self.event(event, event_id=event_id)

    def app_home_opened(self, user_id: str, *, tab: str = "home", event_id: str | None = None) -> tuple[str, str]:
        event: JSON = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.ws.dm(user_id),
            "tab": tab,
            "event_ts": self.ws.clock.next_ts(),
        }
        home = self.ws.views.home(user_id)
        if tab == "home" and home is not None:
            event["view"] = copy.deepcopy(home.view)
        return self.event(event, event_id=event_id)

    def url_verification(self, challenge: str) -> tuple[str, str]:
        body = {"token": self._ident.verification_token, "challenge": challenge, "type": "url_verification"}
        return _dumps(body), JSON_CONTENT


# --------------------------------------------------------------------------------------
# Socket Mode: the websocket the product opens instead of receiving HTTP requests


SOCKET_TICKET_TTL = 30.0
"""Seconds an ``apps.connections.open`` URL may wait before it is used (once)."""
SOCKET_ACK_TIMEOUT = 3.0
"""Slack's deadline for an envelope's ack."""
_RESPONSE_PAYLOAD_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class SocketAck:
    """The product's ack of one envelope; ``payload`` is what an HTTP response body would carry
    (a slash command's answer, a view submission's ``response_action``), ``None`` for a bare ack."""

    envelope_id: str
    payload: JSON | None
    elapsed: float


@dataclass
class _Connection:
    """One websocket the product opened with a ticket."""

    number: int
    ws: web.WebSocketResponse
    ticket: str
    opened: float
    closed: bool = False


def _as_envelope(body: str, content_type: str) -> tuple[str, JSON]:
    """An HTTP request built by :class:`SlackPayloads` as Socket Mode carries it: (envelope type, payload)."""
    if content_type == JSON_CONTENT:
        return "events_api", json.loads(body)
    fields = dict(parse_qsl(body, keep_blank_values=True))
    if set(fields) == {"payload"}:
        return "interactive", json.loads(fields["payload"])
    return "slash_commands", fields


class SlackSocketMode:
    """Slack's side of Socket Mode.

    ``apps.connections.open`` (app-level token) issues a ticket; ``GET /socket/<ticket>``
    upgrades to a websocket (each ticket works once, within :data:`SOCKET_TICKET_TTL`) and
    is greeted with ``hello``. Envelopes go to the newest open connection; the product
    answers each with ``{"envelope_id", "payload"?}`` on any of its connections, and the
    helpers return that ack. Nothing is redelivered by itself — an envelope whose connection
    drops before the ack just times out — :meth:`resend` sends one again as Slack's retry
    would (new envelope id, ``retry_attempt`` + 1). :meth:`close` and :meth:`disconnect` are
    Slack dropping or refreshing connections; :meth:`refuse` fails the next handshakes.
    """

    def __init__(
        self, workspace: SlackWorkspace, payloads: SlackPayloads, *, ack_timeout: float = SOCKET_ACK_TIMEOUT
    ) -> None:
        self.ws = workspace
        self.payloads = payloads
        self.ack_timeout = ack_timeout
        self.envelopes: list[JSON] = []
        """Every envelope sent, in order."""
        self.received: list[Any] = []
        """Every text frame the product sent (acks and anything else), decoded."""
        self.connections: list[_Connection] = []
        self._tickets: dict[str, float] = {}
        self._refusals: list[int] = []
        self._pending: dict[str, asyncio.Future[JSON]] = {}
        self._numbers = itertools.count(1)
        self._changed = asyncio.Event()

    # -- connections

    def issue_url(self) -> str:
        """A one-time websocket URL, as ``apps.connections.open`` returns it."""
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = time.monotonic()
        return "ws" + self.ws.base_url.removeprefix("http") + f"/socket/{ticket}"

    @property
    def open_connections(self) -> list[_Connection]:
        return [c for c in self.connections if not c.closed and not c.ws.closed]

    @property
    def connected(self) -> bool:
        return bool(self.open_connections)

    def refuse(self, count: int = 1, status: int = 503) -> None:
        """Answer the next ``count`` handshakes with ``status`` (their tickets are used up all the same)."""
        self._refusals.extend([status] * count)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``GET /socket/<ticket>``: the websocket, greeted with ``hello``, read until it closes."""
        ticket = request.match_info["ticket"]
        issued = self._tickets.pop(ticket, None)
        if self._refusals:
            return web.Response(status=self._refusals.pop(0), text="refused by the sandbox")
        if issued is None or time.monotonic() - issued > SOCKET_TICKET_TTL:
            return web.Response(status=401, text="invalid_ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = _Connection(next(self._numbers), ws, ticket, time.time())
        self.connections.append(connection)
        try:
            await ws.send_str(
                _dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self.open_connections),
                        "debug_info": {
                            "host": f"applink-sandbox-{connection.number}",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.ws.identity.app_id},
                    }
                )
            )
            self._signal()
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._on_text(frame.data)
        finally:
            connection.closed = True
            self._signal()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = data
        self.received.append(message)
        if isinstance(message, dict):
            future = self._pending.pop(str(message.get("envelope_id")), None)
            if future is not None and not future.done():
                future.set_result(message)

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``ready()`` holds (checked at every connection change); ``TimeoutError`` naming ``what``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not ready():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"Socket Mode: {what} within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> _Connection:
        """Wait until the product has opened ``count`` connections in all and one is open; the newest."""
        await self.until(
            lambda: len(self.connections) >= count and self.connected, timeout, f"no open connection (number {count})"
        )
        return self.open_connections[-1]

    async def close(self, code: int = 1001) -> None:
        """The server closes every open connection (Slack does this on its own from time to time)."""
        for connection in self.open_connections:
            await connection.ws.close(code=code, message=b"closed by the sandbox")

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Send ``{"type": "disconnect"}``: the product should open a new connection and drop this one."""
        for connection in self.open_connections:
            await connection.ws.send_str(
                _dumps(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"applink-sandbox-{connection.number}"},
                    }
                )
            )

    async def shutdown(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        await self.close()

    # -- envelopes

    async def send(
        self,
        kind: str,
        payload: JSON,
        *,
        accepts_response_payload: bool = False,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        timeout: float | None = None,
    ) -> SocketAck:
        """Send one envelope on the newest open connection and wait for its ack.

        Raises ``TimeoutError`` when there is no connection or no ack within ``timeout``
        (default :attr:`ack_timeout`)."""
        timeout = self.ack_timeout if timeout is None else timeout
        envelope: JSON = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt or 0, retry_reason=retry_reason or "")
        loop = asyncio.get_running_loop()
        started = loop.time()
        connection = await self.wait_connected(timeout=timeout)
        future: asyncio.Future[JSON] = loop.create_future()
        self._pending[envelope["envelope_id"]] = future
        self.envelopes.append(envelope)
        try:
            await connection.ws.send_str(_dumps(envelope))
            remaining = max(0.0, timeout - (loop.time() - started))
            try:
                ack = await asyncio.wait_for(future, remaining)
            except TimeoutError:
                raise TimeoutError(f"Socket Mode: no ack for {kind} envelope within {timeout}s") from None
        finally:
            self._pending.pop(envelope["envelope_id"], None)
        answer = ack.get("payload")
        return SocketAck(envelope["envelope_id"], answer if isinstance(answer, dict) else None, loop.time() - started)

    async def send_request(self, body: str, content_type: str, **kwargs: Any) -> SocketAck:
        """Send what :class:`SlackPayloads` built for HTTP as the matching envelope."""
        kind, payload = _as_envelope(body, content_type)
        accepts = kind == "slash_commands" or (
            kind == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_INTERACTIONS
        )
        return await self.send(kind, payload, accepts_response_payload=accepts, **kwargs)

    async def resend(self, envelope_id: str, retry_reason: str = "timeout", **kwargs: Any) -> SocketAck:
        """Deliver an envelope sent before again, as Slack retries: same payload, next ``retry_attempt``."""
        sent = next(e for e in self.envelopes if e["envelope_id"] == envelope_id)
        return await self.send(
            sent["type"],
            copy.deepcopy(sent["payload"]),
            accepts_response_payload=sent["accepts_response_payload"],
            retry_attempt=int(sent.get("retry_attempt") or 0) + 1,
            retry_reason=retry_reason,
            **kwargs,
        )

    # -- what people do, over the socket (the HTTP helpers' twins; ``timeout`` bounds the wait for the ack)

    async def slash(
        self, command: str, text: str, user_id: str, channel_id: str, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A slash command; the ack payload is shown to the user (ephemeral) or in the channel."""
        body = self.payloads.slash_command(command, text, user_id, channel_id, **kwargs)
        ack = await self.send_request(*body, timeout=timeout)
        if ack.payload:
            self.ws.show_command_answer(ack.payload, user_id, channel_id)
        return ack

    async def click(
        self, user_id: str, action_id: str, value: str | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A block action (see :meth:`SlackPayloads.block_action`); Slack ignores its ack payload."""
        body = self.payloads.block_action(user_id, action_id, value, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def submit_view(
        self,
        user_id: str,
        view_id: str,
        values: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> SocketAck:
        """Submit a view; the ack payload's ``response_action`` is applied (errors/update/push/clear/close)."""
        body = self.payloads.view_submission(user_id, view_id, values=values, **kwargs)
        ack = await self.send_request(*body, timeout=timeout)
        self.ws.views.apply_submission(view_id, ack.payload)
        return ack

    async def shortcut(
        self,
        user_id: str,
        callback_id: str,
        channel_id: str,
        message_ts: str,
        *,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> SocketAck:
        body = self.payloads.message_shortcut(user_id, callback_id, channel_id, message_ts, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float | None = None,
    ) -> SocketAck:
        return await self.send_request(
            *self.payloads.event(event, event_id=event_id),
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            timeout=timeout,
        )

    async def message(
        self, user_id: str, channel_id: str, text: str, *, timeout: float | None = None, **kwargs: Any
    ) -> SocketAck:
        """A person writes ``text`` (stored, then delivered as a ``message`` event)."""
        body = self.payloads.message_event(user_id, channel_id, text, **kwargs)
        return await self.send_request(*body, timeout=timeout)

    async def open_home(self, user_id: str, *, timeout: float | None = None) -> SocketAck:
        return await self.send_request(*self.payloads.app_home_opened(user_id), timeout=timeout)


# --------------------------------------------------------------------------------------
# HTTP: the server the product calls, the client that calls the product


async def _read_params(request: web.Request) -> JSON:
    """Query string and body (form, multipart or JSON) merged; JSON-encoded fields decoded."""
    params: JSON = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == JSON_CONTENT:
            try:
                body = await request.json()
            except ValueError:
                raise _ApiError("invalid_json") from None
            if not isinstance(body, dict):
                raise _ApiError("json_not_object")
            params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
    for key in _JSON_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.startswith(("[", "{")):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() or None if header.startswith("Bearer ") else None


class SlackSandbox:
    """Slack, locally: the Web API at :attr:`api_url` and the side that calls the product.

    Typical use::

        sandbox = SlackSandbox(signing_secret="s3cr3t")
        sandbox.add_channel("C0DESK01", "desk")
        await sandbox.start()
        client = AsyncWebClient(token=sandbox.bot_token, base_url=sandbox.api_url)
        ...
        await sandbox.post_slash(product_url, "/startprocess", "42", "U0ANNA01", "C0DESK01")
        await sandbox.stop()

    With ``app_token`` (``xapp-…``) the product may use Socket Mode instead: it calls
    ``apps.connections.open`` with that token and connects; then
    ``await sandbox.socket.slash("/startprocess", "42", "U0ANNA01", "C0DESK01")`` sends the
    same request as an envelope and returns the product's ack.

    State lives in :attr:`workspace`, payload builders in :attr:`payloads`; the methods
    tests use most are also reachable on the sandbox itself (``add_user``, ``thread``,
    ``slash_command``, …).
    """

    def __init__(
        self,
        signing_secret: str,
        bot_token: str = "xoxb-sandbox",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0LINEDESK",
        bot_id: str = "B0LINEDESK",
        app_id: str = "A0LINEDESK",
        *,
        team_domain: str = "linedesk-sandbox",
        team_name: str = "linedesk sandbox",
        bot_name: str = "linedesk",
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        verification_token: str = "sandbox_verification_token",
        trigger_ttl: float = 3.0,
        app_token: str | None = None,
    ) -> None:
        if app_token is not None and not app_token.startswith("xapp-"):
            raise ValueError("app_token must be an app-level token (xapp-…)")
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.app_token = app_token
        self.identity = SlackIdentity(
            team_id=team_id,
            team_domain=team_domain,
            team_name=team_name,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            bot_name=bot_name,
            verification_token=verification_token,
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
        )
        self.workspace = SlackWorkspace(self.identity, trigger_ttl=trigger_ttl)
        self.payloads = SlackPayloads(self.workspace)
        self.socket = SlackSocketMode(self.workspace, self.payloads)
        self.calls: list[SlackCall] = []
        self.views = self.workspace.views.by_id
        self.files = self.workspace.files
        self._api = _WebApi(self.workspace)
        self._failures: list[_Failure] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        self._base_url: str | None = None
        # the workspace's and builders' everyday methods, reachable from the sandbox itself
        ws, build = self.workspace, self.payloads
        self.add_user = ws.add_user
        self.add_channel = ws.add_channel
        self.add_file = ws.add_file
        self.dm = ws.dm
        self.channel_messages = ws.channel_messages
        self.thread = ws.thread
        self.message = ws.message
        self.ephemeral = ws.ephemeral
        self.record_ephemeral = ws.record_ephemeral
        self.slash_command = build.slash_command
        self.block_action = build.block_action
        self.view_submission = build.view_submission
        self.message_shortcut = build.message_shortcut
        self.event = build.event
        self.message_event = build.message_event
        self.message_changed_event = build.message_changed_event
        self.app_home_opened = build.app_home_opened
        self.url_verification = build.url_verification

    # -- lifecycle

    def build_app(self) -> web.Application:
        """The aiohttp application serving the Web API, upload URLs, files, response URLs and Socket Mode."""
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._handle_api)
        app.router.add_get("/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files/{file_id}/{name}", self._handle_file)
        app.router.add_post("/response/{token}", self._handle_response_url)
        app.router.add_get("/socket/{ticket}", self.socket.handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("SlackSandbox already started")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        public_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self._base_url = f"http://{public_host}:{bound_port}"
        self.workspace.base_url = self._base_url

    async def stop(self) -> None:
        """Stop serving (hanging injected delays end at once, sockets close) and close the sending session."""
        self._stopping.set()
        await self.socket.shutdown()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("SlackSandbox is not started")
        return self._base_url

    @property
    def api_url(self) -> str:
        """Base URL for ``AsyncWebClient(base_url=...)`` (ends with ``/api/``)."""
        return f"{self.base_url}/api/"

    # -- state shortcuts

    def home(self, user_id: str) -> JSON | None:
        """The App Home view last published for ``user_id``."""
        view = self.workspace.views.home(user_id)
        return copy.deepcopy(view.view) if view else None

    def modal(self, user_id: str) -> JSON | None:
        """The modal ``user_id`` currently sees (top of the stack), if any."""
        view = self.workspace.views.modal(user_id)
        return copy.deepcopy(view.view) if view else None

    def calls_of(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()

    # -- failure injection

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        count: int = 1,
        retry_after: int | None = None,
        channel: str | None = None,
        delay: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"``: any) fail.

        ``retry_after`` (or ``status=429``) answers HTTP 429 ``ratelimited`` with
        ``Retry-After``; another ``status`` answers that HTTP status; ``error`` alone answers
        ``{"ok": false, "error": error, **extra}`` with 200; ``delay`` holds the answer that
        many seconds first (alone, the call then succeeds). ``channel`` limits the rule to
        calls for that channel. ``count < 0``: until :meth:`clear_failures`.
        """
        if count == 0:
            return
        details = dict(extra or {})
        if error == "missing_scope":
            details = {"needed": "chat:write", "provided": "", **details}
        self._failures.append(_Failure(method, error, status, count, retry_after, channel, delay, details))

    def clear_failures(self) -> None:
        self._failures.clear()

    def _take_failure(self, method: str, params: Mapping[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.matches(method, params):
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _hang(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), delay)
        except TimeoutError:
            pass

    # -- routes

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return web.json_response({"ok": False, "error": exc.error}, dumps=_dumps)
        header_token = _bearer(request)
        token = header_token or params.pop("token", None)
        params.pop("token", None)
        call = SlackCall(method, params, time.time())
        self.calls.append(call)
        status, body, headers = await self._answer(method, params, token, in_header=header_token is not None)
        call.response, call.status = body, status
        return web.json_response(body, status=status, headers=headers, dumps=_dumps)

    async def _answer(
        self, method: str, params: JSON, token: Any, in_header: bool = True
    ) -> tuple[int, JSON, dict[str, str]]:
        handler = self._api.methods.get(method)
        connections_open = method == "apps.connections.open"
        if handler is None and not connections_open:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        # apps.connections.open takes the app-level token, in the Authorization header only;
        # every other method the bot token
        if not token or (connections_open and not in_header):
            return 200, {"ok": False, "error": "not_authed"}, {}
        expected, other = (self.app_token, self.bot_token) if connections_open else (self.bot_token, self.app_token)
        if token != expected:
            return 200, {"ok": False, "error": "not_allowed_token_type" if token == other else "invalid_auth"}, {}
        failure = self._take_failure(method, params)
        if failure is not None:
            if failure.delay:
                await self._hang(failure.delay)
            injected = failure.answer()
            if injected is not None:
                return injected
        if connections_open:
            return 200, {"ok": True, "url": self.socket.issue_url()}, {}
        assert handler is not None
        try:
            return 200, {"ok": True, **handler(_Params(params))}, {}
        except _ApiError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, {}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file = self.workspace.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field = form.get("file") or form.get("filename")
            data = field.file.read() if isinstance(field, web.FileField) else str(field or "").encode()
        else:
            data = await request.read()
        file.content = data
        self.calls.append(SlackCall("upload", {"file_id": file.id, "length": len(data)}, time.time(), None, 200))
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_file(self, request: web.Request) -> web.Response:
        """``url_private``: without the bot token Slack answers its HTML sign-in page (status 200)."""
        file = self.workspace.files.get(request.match_info["file_id"])
        if _bearer(request) != self.bot_token:
            return web.Response(text="<!DOCTYPE html><title>Slack</title>sign in", content_type="text/html")
        if file is None or file.content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=file.content, content_type=file.mimetype)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        target = self.workspace.response_urls.get(request.match_info["token"])
        if target is None:
            return web.json_response({"ok": False, "error": "invalid_token"}, status=404)
        if target.uses >= RESPONSE_URL_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        target.uses += 1
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        call = SlackCall("response_url", body, time.time())
        self.calls.append(call)
        try:
            self.workspace.respond(target, body)
        except _ApiError as exc:
            call.response, call.status = {"ok": False, "error": exc.error}, 400
            return web.json_response(call.response, status=400)
        call.response = {"ok": True}
        return web.json_response(call.response)

    # -- the Slack side: signing and sending

    def sign(self, body: str | bytes, timestamp: str | int) -> str:
        return slack_signature(self.signing_secret, str(timestamp), body)

    async def send(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> SlackResponse:
        """POST ``body`` to the product as Slack does; ``timestamp``/``signature`` override to forge."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sent = {
            "Content-Type": content_type,
            "User-Agent": _SLACKBOT_AGENT,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else self.sign(body, ts),
        }
        if retry_num is not None:
            sent["X-Slack-Retry-Num"] = str(retry_num)
            sent["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        sent.update(headers or {})
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        started = time.perf_counter()
        async with self._session.post(url, data=body.encode(), headers=sent) as resp:
            text = await resp.text()
            elapsed = time.perf_counter() - started
            parsed: Any = None
            if text[:1] in ("{", "["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
            return SlackResponse(resp.status, resp.headers, text, parsed, elapsed)

    async def post_slash(
        self, url: str, command: str, text: str, user_id: str, channel_id: str, **kwargs: Any
    ) -> SlackResponse:
        """Send a slash command; a non-empty ack is shown to the user (ephemeral) or in the channel."""
        response = await self.send(url, *self.payloads.slash_command(command, text, user_id, channel_id, **kwargs))
        if response.status == 200 and response.text.strip():
            self._show_ack(response, user_id, channel_id)
        return response

    def _show_ack(self, response: SlackResponse, user_id: str, channel_id: str) -> None:
        body: JSON = response.json if isinstance(response.json, dict) else {"text": response.text}
        self.workspace.show_command_answer(body, user_id, channel_id)

    async def click(
        self, url: str, user_id: str, action_id: str, value: str | None = None, **kwargs: Any
    ) -> SlackResponse:
        """Send a block action (see :meth:`SlackPayloads.block_action`); Slack ignores its ack body."""
        return await self.send(url, *self.payloads.block_action(user_id, action_id, value, **kwargs))

    async def submit_view(
        self, url: str, user_id: str, view_id: str, values: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> SlackResponse:
        """Submit a view and apply the product's ``response_action`` (errors/update/push/clear/close)."""
        body = self.payloads.view_submission(user_id, view_id, values=values, **kwargs)
        response = await self.send(url, *body)
        if response.status == 200:
            self.workspace.views.apply_submission(view_id, response.json)
        return response

    async def shortcut(
        self, url: str, user_id: str, callback_id: str, channel_id: str, message_ts: str, **kwargs: Any
    ) -> SlackResponse:
        body = self.payloads.message_shortcut(user_id, callback_id, channel_id, message_ts, **kwargs)
        return await self.send(url, *body)

    async def post_event(
        self,
        url: str,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SlackResponse:
        body = self.payloads.event(event, event_id=event_id)
        return await self.send(url, *body, retry_num=retry_num, retry_reason=retry_reason)

    async def post_message(self, url: str, user_id: str, channel_id: str, text: str, **kwargs: Any) -> SlackResponse:
        """A person writes ``text`` (stored, then delivered as a ``message`` event)."""
        return await self.send(url, *self.payloads.message_event(user_id, channel_id, text, **kwargs))

    async def open_home(self, url: str, user_id: str) -> SlackResponse:
        return await self.send(url, *self.payloads.app_home_opened(user_id))
