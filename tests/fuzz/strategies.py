"""Hypothesis strategies for what Telegram and Slack POST to linedesk (issue 7, point 6).

Telegram: `Update` objects generated from the machine-readable Bot API spec
(``telegram_bot_api_spec.json``: every type's required and optional fields with their JSON types,
unions through ``subtypes``, string enums and constants read from the field descriptions, recursion
bounded by depth), overlaid with realistic shapes linedesk acts on — private messages from known and
new clients, the rig's desk group and its real topics, callback queries with random or near-valid
``CallbackData`` (prefixes of ``desk/picker_keyboard.py``, ``desk_cards.py``, ``desk/topic_forms.py``) — and malformed
ones: wrong types, missing ``update_id``, unknown fields, huge strings, emoji and lone surrogates,
nested garbage, bodies that are no JSON object at all, wrong secrets and unknown lines.

Slack: built from the reference payloads (``tests/fixtures/reference/slack``) and the Events API spec's
event names: ``event_callback`` envelopes (``message`` with subtypes, thread replies into real
session threads, edits and deletions, ``app_home_opened``, events linedesk does not use,
``url_verification``), slash commands (``/startprocess``, ``/status``, ``/autostart`` and unknown
ones, form-encoded), ``block_actions`` with linedesk's real action ids and random or near-valid
values, ``view_submission`` of the task form with random state, ``block_suggestion`` (options) and
message shortcuts; and malformed ones: wrong content types, ``payload=`` that is not JSON, missing
fields, garbage bodies. Requests are signed; a small share is unsigned, badly signed or stale.

Values that exist only in a running stage (a session's Slack thread ts, a Telegram topic id, an
instance id, a fresh ``update_id`` or ``event_id``, a trigger id the sandbox issued…) are drawn as
symbolic :class:`Ref` s (concatenations as :class:`Cat`) and resolved when the request is sent, so
that an example replays the same way while Hypothesis shrinks it, and so that regressions can be
written as plain ``@example`` s.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from adapters.slack import views
from adapters.slack.admin import COMMAND, PAGE, PROCESS, TOGGLE
from adapters.slack.desk import SHORTCUT
from adapters.slack.home import HOME_IDS, STATUS
from core.autostart import EVENTS
from sandboxes.rig import (
    ANNA,
    BORIS,
    CARL,
    DESK_CHANNEL,
    IVAN,
    OLGA,
    PETRA,
    SALES_CHANNEL,
    SALES_SECRET,
    STRANGER,
    SUPPORT_TOKEN,
    TELEGRAM_DESK,
    WEBHOOK_SECRET,
)
from sandboxes.slack import FORM, JSON_CONTENT
from tests import fixtures
from tests.support.telegram_spec import load_spec

REFERENCE = fixtures.REFERENCE
JSON = Any


# --------------------------------------------------------------------------------------------------
# Symbolic values, resolved against the running stage when a request is sent
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A value of the running stage. Fresh kinds get a new value at every send: ``update_id``,
    ``event_id``, ``ts``, ``query_id`` (a callback query Telegram knows), ``trigger`` and
    ``response_url`` (issued by the Slack sandbox for the request's user). Known kinds pick the
    ``index``-th (modulo) of what the stage holds: ``session`` (numbers), ``thread_ts`` (Slack session
    threads), ``topic`` (Telegram topic thread ids), ``reply_ts`` (operators' mirrored Slack replies),
    ``instance``, ``task``, ``form_task`` (a task id's short hash), ``view``, ``process_id``,
    ``process_key``, ``operator_key``, ``dm`` (the Slack customer's DM), ``team``, ``app``, ``bot_user``."""

    kind: str
    index: int = 0


@dataclass(frozen=True)
class Cat:
    """A string made of plain strings and :class:`Ref` s."""

    parts: tuple[Any, ...]


def cat(*parts: SearchStrategy[Any] | str) -> SearchStrategy[Cat]:
    return st.tuples(*(p if isinstance(p, SearchStrategy) else st.just(p) for p in parts)).map(Cat)


def ref(kind: str, count: int = 4) -> SearchStrategy[Ref]:
    return st.integers(0, count - 1).map(lambda i: Ref(kind, i))


def weighted(*pairs: tuple[int, SearchStrategy[Any]]) -> SearchStrategy[Any]:
    """`one_of` where a branch of weight w is w times as likely. (`st.one_of` itself ignores repeated branches
    and flattens nested ones, so that a big family of payloads would crowd out a small one.)"""
    branches = [strategy for weight, strategy in pairs for _ in range(weight)]
    return st.sampled_from(branches).flatmap(lambda strategy: strategy)


# --------------------------------------------------------------------------------------------------
# Text and numbers
# --------------------------------------------------------------------------------------------------
REALISTIC_TEXTS = (
    "Hello",
    "My order is late",
    "Hello, my washing machine is broken",
    "/start",
    "/start ref42",
    "/help",
    "/status online",
    "/status",
    "/sessions",
    "/startprocess",
    "/close",
    "/transfer Anna",
    "/transfer queue",
    "/spam",
    "/unspam",
    "/cancel",
    "/autostart",
    "// internal note",
    "42",
    "#1",
    "yes",
    "repair",
    "2030-01-31",
    "<b>bold</b> & <i>it</i> <a href='x'>",
    "*bold* _it_ `code` ```pre``` [link](http://x) ~s~ ||sp||",
    "@support_sandbox_bot hi",
    "/start@support_sandbox_bot",
    "/status@support_sandbox_bot busy",
    "",
    " ",
    "\n\n",
)
WEIRD_TEXTS = (
    "😀👍🏽👨‍👩‍👧‍👦🇺🇦❤️",
    "\u200b\u200d\ufeff",
    "\u202eRTL override",
    "ᚠᛇᚻ᛫ᛒᛦᚦ",
    "²",
    "٣",
    "𝟙𝟚",
    "\x00nul\x00",
    "a\r\nb\tc",
    "\\u0000",
    "%s %d {0} {} {{",
    "'; DROP TABLE sessions; --",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "&lt;&amp;&gt;",
    "\\",
    '"quoted"',
    "Ω≈ç√∫˜µ≤≥÷",
    "🏳️‍🌈" * 3,
    "<!channel>",
    "<!here> look",
    "<https://evil.example|Click here> *bold* _it_",
    "<@U0ANNA01>",
    "@everyone",
)
HUGE_TEXTS = ("x" * 4097, "😀" * 2049, "й" * 5000, "a " * 20_001, "<b>" * 3000, "z" * 70_000)
NUMBER_WORDS = (
    "1",
    "2",
    "3",
    "4",
    "0",
    "-1",
    "01",
    "#1",
    "#3",
    " 2 ",
    "²",
    "٣",
    "𝟙",
    "1.5",
    "1e3",
    "0x1",
    "",
    "99999999999999999999",
    "9223372036854775808",
    "NaN",
    "one",
)

surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
texts: SearchStrategy[str] = weighted(
    (4, st.sampled_from(REALISTIC_TEXTS)),
    (2, st.sampled_from(WEIRD_TEXTS)),
    (3, st.text(max_size=40)),
    (1, st.tuples(st.text(max_size=5), surrogates, st.text(max_size=5)).map("".join)),
    (1, st.sampled_from(HUGE_TEXTS)),
)
short_texts: SearchStrategy[str] = st.one_of(st.text(max_size=12), st.sampled_from((*WEIRD_TEXTS, "", "x")))
numbers: SearchStrategy[Any] = st.one_of(
    st.sampled_from(NUMBER_WORDS), ref("session", 4).map(lambda r: Cat((r,))), st.integers(-(2**70), 2**70).map(str)
)
extreme_ints = st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30])
any_int = st.one_of(st.integers(-(2**40), 2**40), extreme_ints)
json_scalars = st.one_of(
    st.none(), st.booleans(), any_int, st.floats(allow_nan=False, allow_infinity=False), short_texts
)
json_garbage: SearchStrategy[JSON] = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(short_texts, inner, max_size=3)),
    max_leaves=8,
)


# --------------------------------------------------------------------------------------------------
# Telegram: people, chats, callback data
# --------------------------------------------------------------------------------------------------
BOT_USER: JSON = {
    "id": int(SUPPORT_TOKEN.split(":")[0]),
    "is_bot": True,
    "first_name": "Support",
    "username": "support_sandbox_bot",
}
DESK_CHAT: JSON = {"id": TELEGRAM_DESK, "type": "supergroup", "title": "Support desk", "is_forum": True}
CLIENT_IDS = (IVAN.telegram_user, OLGA.telegram_user, 601, 602, 603)
OPERATOR_IDS = (ANNA.telegram_user, BORIS.telegram_user, CARL.telegram_user)
NAMES = {
    IVAN.telegram_user: "Ivan",
    OLGA.telegram_user: "Olga",
    ANNA.telegram_user: "Anna",
    BORIS.telegram_user: "Boris",
    CARL.telegram_user: "Carl",
}


@st.composite
def tg_users(draw: st.DrawFn, ids: SearchStrategy[int]) -> JSON:
    user_id = draw(ids)
    user: JSON = {
        "id": user_id,
        "is_bot": False,
        "first_name": draw(st.one_of(st.just(NAMES.get(user_id, f"Client{user_id}")), short_texts.filter(bool))),
    }
    for key, value in draw(
        st.dictionaries(st.sampled_from(["last_name", "username", "language_code"]), short_texts, max_size=2)
    ).items():
        user[key] = value
    return user


client_users = tg_users(st.sampled_from(CLIENT_IDS))
operator_users = tg_users(st.sampled_from(OPERATOR_IDS))
any_tg_users = weighted(
    (3, client_users), (3, operator_users), (1, tg_users(st.integers(1, 2**40))), (1, tg_users(extreme_ints))
)


def private_chat(user: JSON) -> JSON:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


CALLBACK_PREFIXES = ("ses", "tr", "pp", "pg", "pt", "fm", "task", "as")
SESSION_ACTIONS = ("take", "start", "close", "transfer", "spam", "unspam")
callback_data: SearchStrategy[Any] = weighted(
    (2, cat("ses:", st.one_of(st.sampled_from(SESSION_ACTIONS), short_texts), ":", numbers)),
    (
        1,
        cat(
            "tr:",
            numbers,
            ":",
            st.one_of(st.sampled_from(["-", "x", "", "0123456789ab"]), ref("operator_key", 3), short_texts),
        ),
    ),
    (1, cat("pp:", numbers, ":", st.one_of(ref("process_key", 3), short_texts))),
    (1, cat("pg:", numbers, ":", numbers)),
    (1, cat("pt:", numbers)),
    (
        1,
        cat(
            "fm:",
            st.sampled_from(["o", "s", "x", "?"]),
            ":",
            numbers,
            ":",
            numbers,
            ":",
            st.one_of(ref("form_task", 1), short_texts),
        ),
    ),
    (1, cat("task:", st.one_of(ref("instance", 1), short_texts))),
    (
        1,
        cat(
            "as:",
            st.sampled_from(["t", "m", "g", "c", "l", "?"]),
            ":",
            numbers,
            ":",
            st.one_of(st.sampled_from(["0", "1", ""]), numbers, ref("process_key", 3)),
        ),
    ),
    (
        1,
        st.tuples(st.sampled_from(CALLBACK_PREFIXES), st.lists(short_texts, max_size=5)).map(
            lambda t: ":".join((t[0], *t[1]))
        ),
    ),
    (1, st.text(max_size=70)),
)


# --------------------------------------------------------------------------------------------------
# Telegram: objects generated from the Bot API spec
# --------------------------------------------------------------------------------------------------
_QUOTED = re.compile(r"\"([^\"]+)\"")
_ENUM_WORDS = re.compile(r"\b(can be|either|one of|always|Currently)\b", re.IGNORECASE)
_ALWAYS_INT = re.compile(r"\bAlways (\d+)\b")
UPDATE_KINDS_USED = ("message", "edited_message", "callback_query", "my_chat_member")


class TelegramSpecStrategies:
    """Strategies for the spec's types. `max_depth` bounds recursion (past it only required fields are
    generated), `optional_per_level` how many optional fields an object may carry at each depth."""

    def __init__(self, spec: dict[str, Any], max_depth: int = 3, optional_per_level: Sequence[int] = (4, 3, 1)) -> None:
        self.types: dict[str, Any] = spec["types"]
        self.max_depth = max_depth
        self.optional_per_level = tuple(optional_per_level)
        self._memo: dict[tuple[str, int], SearchStrategy[Any]] = {}
        self._fields: dict[tuple[str, str, int], SearchStrategy[Any]] = {}

    def of(self, type_expr: str, depth: int = 0) -> SearchStrategy[Any]:
        if type_expr.startswith("Array of "):
            inner = self.of(type_expr.removeprefix("Array of "), depth + 1)
            return st.lists(inner, min_size=0 if depth >= self.max_depth else 1, max_size=2 if depth < 2 else 1)
        primitive = self._primitive(type_expr, "", "")
        if primitive is not None:
            return primitive
        key = (type_expr, min(depth, self.max_depth + 3))
        if key not in self._memo:
            self._memo[key] = st.deferred(lambda: self._build(type_expr, depth))
        return self._memo[key]

    def _build(self, name: str, depth: int) -> SearchStrategy[Any]:
        spec_type = self.types.get(name)
        if spec_type is None:
            return json_garbage
        if "subtypes" in spec_type:
            return st.one_of(*(self.of(sub, depth) for sub in spec_type["subtypes"]))
        fields = spec_type.get("fields", [])
        if not fields or depth > self.max_depth + 3:
            return st.just({})
        required = [f for f in fields if f["required"]]
        optional = [f for f in fields if not f["required"]]
        allowed = self.optional_per_level[depth] if depth < len(self.optional_per_level) else 0

        @st.composite
        def build(draw: st.DrawFn) -> JSON:
            obj: JSON = {}
            for spec_field in required:
                obj[spec_field["name"]] = draw(self._field(name, spec_field, depth))
            if optional and allowed:
                chosen = draw(st.lists(st.sampled_from(optional), max_size=allowed, unique_by=lambda f: f["name"]))
                for spec_field in chosen:
                    obj[spec_field["name"]] = draw(self._field(name, spec_field, depth))
            return obj

        return build()

    def _field(self, owner: str, spec_field: dict[str, Any], depth: int) -> SearchStrategy[Any]:
        name, description = spec_field["name"], spec_field.get("description", "")
        key = (owner, name, depth)
        if key not in self._fields:
            variants = []
            for type_expr in spec_field["types"]:
                primitive = self._primitive(type_expr, name, description, owner)
                variants.append(primitive if primitive is not None else self.of(type_expr, depth + 1))
            self._fields[key] = st.one_of(*variants)
        return self._fields[key]

    def _primitive(self, type_expr: str, name: str, description: str, owner: str = "") -> SearchStrategy[Any] | None:
        if type_expr == "Integer":
            if match := _ALWAYS_INT.search(description):
                return st.just(int(match[1]))
            if name == "message_thread_id":
                return st.one_of(ref("topic", 3), st.integers(1, 50))
            if name in ("date", "edit_date", "until_date", "forward_date"):
                return st.integers(0, 2**31)
            if name == "message_id":
                return st.integers(1, 10**6)
            if name == "id" and owner == "User":
                return st.one_of(st.sampled_from(CLIENT_IDS + OPERATOR_IDS), st.integers(1, 2**40))
            if name == "id" and owner == "Chat":
                return st.one_of(st.sampled_from((*CLIENT_IDS, TELEGRAM_DESK)), st.integers(-(2**45), 2**40))
            return any_int
        if type_expr == "Float":
            return st.floats(-1e6, 1e6, allow_nan=False)
        if type_expr == "Boolean":
            return st.booleans()
        if type_expr == "True":
            return st.just(True)
        if type_expr == "String":
            quoted = _QUOTED.findall(description)
            if quoted and _ENUM_WORDS.search(description):
                if "always" in description.lower() and len(quoted) == 1:
                    return st.just(quoted[0])
                return weighted((5, st.sampled_from(quoted)), (1, short_texts))
            if name in ("text", "caption"):
                return texts
            if name == "id" or name.endswith("_id"):  # identifiers Telegram gives are never empty
                return short_texts.filter(bool)
            if name == "data" and owner == "CallbackQuery":
                return callback_data
            return short_texts
        return None

    def update(self) -> SearchStrategy[JSON]:
        """An Update with a fresh update_id and exactly one of its optional fields (the spec: at most one);
        the kinds linedesk subscribes to come more often."""
        kinds = [f for f in self.types["Update"]["fields"] if not f["required"]]
        used = [f for f in kinds if f["name"] in UPDATE_KINDS_USED]

        def one(spec_field: dict[str, Any]) -> SearchStrategy[JSON]:
            kind = str(spec_field["name"])

            def wrap(body: JSON) -> JSON:
                return {"update_id": Ref("update_id"), kind: body}

            return self.of(spec_field["types"][0], 0).map(wrap)

        return weighted((3, st.sampled_from(used).flatmap(one)), (1, st.sampled_from(kinds).flatmap(one)))


@lru_cache(maxsize=1)
def telegram_spec() -> TelegramSpecStrategies:
    return TelegramSpecStrategies(load_spec())


def _spec_message(depth: int = 1) -> SearchStrategy[JSON]:
    return telegram_spec().of("Message", depth)


# --------------------------------------------------------------------------------------------------
# Telegram: realistic updates
# --------------------------------------------------------------------------------------------------
def _command_text(commands: Sequence[str]) -> SearchStrategy[Any]:
    args = st.one_of(
        st.just(""),
        numbers,
        short_texts,
        st.sampled_from(["Anna", "carl", "queue", "online", "busy", "offline", "support", "sales"]),
    )
    return st.tuples(st.sampled_from(commands), st.sampled_from(["", "@support_sandbox_bot", "@other_bot"]), args).map(
        lambda t: f"/{t[0]}{t[1]} {t[2]}".rstrip() if isinstance(t[2], str) else Cat((f"/{t[0]}{t[1]} ", t[2]))
    )


def _with_command_entity(message: JSON) -> JSON:
    text = message.get("text")
    if isinstance(text, str) and text.startswith("/"):
        length = len(text.split(" ", 1)[0].encode("utf-16-le")) // 2
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return message


DESK_COMMANDS = (
    "status",
    "startprocess",
    "close",
    "transfer",
    "spam",
    "unspam",
    "sessions",
    "cancel",
    "autostart",
    "reply",
    "start",
    "nonsense",
)


@st.composite
def tg_private_message(draw: st.DrawFn) -> JSON:
    """A person writes to the Support bot in a private chat (or edits what they wrote)."""
    user = draw(weighted((4, client_users), (1, operator_users), (1, any_tg_users)))
    message = dict(draw(_spec_message(1)))
    message.update(
        {
            "from": user,
            "chat": private_chat(user),
            "message_id": draw(st.integers(1, 10**6)),
            "date": draw(st.integers(0, 2**31)),
        }
    )
    if draw(st.integers(0, 3)):
        message["text"] = draw(st.one_of(texts, _command_text(("start", "status", "sessions", "help"))))
    kind = draw(st.sampled_from(["message", "message", "message", "edited_message"]))
    if kind == "edited_message":
        message["edit_date"] = message["date"] + 1
    return {"update_id": Ref("update_id"), kind: _with_command_entity(message)}


@st.composite
def tg_desk_message(draw: st.DrawFn) -> JSON:
    """Someone writes in the Telegram desk group: in a session's topic, in General, or a command."""
    user = draw(weighted((4, operator_users), (1, client_users), (1, any_tg_users)))
    message = dict(draw(_spec_message(2)))
    message.update(
        {
            "from": user,
            "chat": dict(DESK_CHAT),
            "message_id": draw(st.integers(1, 10**6)),
            "date": draw(st.integers(0, 2**31)),
        }
    )
    thread = draw(weighted((4, ref("topic", 3)), (1, st.none())))  # (no message comes from a topic that is not)
    if thread is None:
        message.pop("message_thread_id", None)
    else:
        message.update(message_thread_id=thread, is_topic_message=True)
    message["text"] = draw(weighted((2, texts), (3, _command_text(DESK_COMMANDS))))
    kind = draw(st.sampled_from(["message", "message", "message", "edited_message"]))
    return {"update_id": Ref("update_id"), kind: _with_command_entity(message)}


@st.composite
def tg_callback_query(draw: st.DrawFn) -> JSON:
    """A press on an inline button: under a card in the desk (a topic), in a private chat, or inline."""
    user = draw(weighted((4, operator_users), (1, client_users), (1, any_tg_users)))
    query: JSON = {
        "id": draw(weighted((5, st.just(Ref("query_id"))), (1, short_texts.filter(bool)))),
        "from": user,
        "chat_instance": draw(st.sampled_from(["-100123", "42", ""])),
        "data": draw(callback_data),
    }
    where = draw(st.sampled_from(["desk", "desk", "desk", "private", "inaccessible", "inline", "none"]))
    if where in ("desk", "private"):
        message: JSON = {
            "message_id": draw(st.integers(1, 10**5)),
            "date": draw(st.integers(1, 2**31)),
            "from": BOT_USER,
            "text": draw(st.sampled_from(["#1 · Ivan", "Choose a process", "x"])),
        }
        if where == "desk":
            message["chat"] = dict(DESK_CHAT)
            thread = draw(st.one_of(ref("topic", 3), st.none(), st.integers(1, 10**6)))
            if thread is not None:
                message.update(message_thread_id=thread, is_topic_message=True)
        else:
            message["chat"] = private_chat(user)
        query["message"] = message
    elif where == "inaccessible":
        query["message"] = {
            "chat": draw(st.sampled_from([DESK_CHAT, private_chat(user)])),
            "message_id": draw(st.integers(1, 10**5)),
            "date": 0,
        }
    elif where == "inline":
        query["inline_message_id"] = draw(short_texts)
    if draw(st.integers(0, 9)) == 0:
        del query["data"]
        query["game_short_name"] = draw(short_texts)
    return {"update_id": Ref("update_id"), "callback_query": query}


@st.composite
def tg_my_chat_member(draw: st.DrawFn) -> JSON:
    """A client blocks (or unblocks) the bot; sometimes the bot's membership of a group changes."""
    user = draw(weighted((3, client_users), (1, any_tg_users)))
    old, new = draw(
        st.sampled_from(
            [("member", "kicked"), ("kicked", "member"), ("member", "left"), ("left", "member"), ("member", "member")]
        )
    )
    chat = draw(st.sampled_from([private_chat(user), DESK_CHAT, {"id": -100777, "type": "group", "title": "g"}]))
    new_member: JSON = {"status": new, "user": BOT_USER}
    if new == "kicked":
        new_member["until_date"] = draw(st.integers(0, 2**31))
    return {
        "update_id": Ref("update_id"),
        "my_chat_member": {
            "chat": chat,
            "from": user,
            "date": draw(st.integers(0, 2**31)),
            "old_chat_member": {"status": old, "user": BOT_USER},
            "new_chat_member": new_member,
        },
    }


@st.composite
def tg_reference_update(draw: st.DrawFn) -> JSON:
    """A real update from the reference fixtures, with a fresh update_id."""
    updates = _reference_telegram_updates()
    if not updates:
        return {"update_id": Ref("update_id")}
    update = copy.deepcopy(draw(st.sampled_from(updates)))
    update["update_id"] = Ref("update_id")
    return update


@lru_cache(maxsize=1)
def _reference_telegram_updates() -> tuple[JSON, ...]:
    folder = REFERENCE / "telegram"
    found: list[JSON] = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name.startswith("tg_getupdates_response_"):
            found += data.get("result", [])
        elif path.name.startswith("tg_message_obj_"):
            found.append({"update_id": 0, "message": data})
        elif path.name.startswith("tg_chat_member_updated_obj_"):
            found.append({"update_id": 0, "chat_member": data})
        else:
            found.append(data)
    return tuple(found)


def valid_telegram_updates() -> SearchStrategy[JSON]:
    return weighted(
        (4, tg_private_message()),
        (4, tg_desk_message()),
        (4, tg_callback_query()),
        (1, tg_my_chat_member()),
        (1, tg_reference_update()),
        (2, telegram_spec().update()),
    )


# --------------------------------------------------------------------------------------------------
# Malformed: mutations of a valid tree
# --------------------------------------------------------------------------------------------------
def _paths(tree: JSON, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += _paths(value, (*prefix, index))
    return found


def _replace(tree: JSON, path: tuple[Any, ...], change: Callable[[JSON], JSON]) -> JSON:
    if not path:
        return change(tree)
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {k: (_replace(v, rest, change) if k == head else v) for k, v in tree.items()}
    return [(_replace(v, rest, change) if i == head else v) for i, v in enumerate(tree)]


_DROP = object()


def _drop_marked(tree: JSON) -> JSON:
    if isinstance(tree, dict):
        return {k: _drop_marked(v) for k, v in tree.items() if v is not _DROP}
    if isinstance(tree, list):
        return [_drop_marked(v) for v in tree if v is not _DROP]
    return tree


MUTATIONS = (
    "wrong_type",
    "drop_key",
    "extra_fields",
    "huge_string",
    "surrogates",
    "nested_garbage",
    "drop_update_id",
    "update_id_wrong_type",
    "duplicate_update_id",
)


@st.composite
def mutated(draw: st.DrawFn, base: SearchStrategy[JSON], mutations: Sequence[str] = MUTATIONS) -> JSON:
    """`base` with one to three defects."""
    tree = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(mutations))
        paths = _paths(tree)
        path = draw(st.sampled_from(paths[1:] or paths))
        if mutation == "wrong_type":
            tree = _replace(tree, path, lambda _old: draw(json_scalars))
        elif mutation == "drop_key":
            tree = _drop_marked(_replace(tree, path, lambda _old: _DROP)) if path else tree
        elif mutation == "extra_fields":
            extra: JSON = draw(st.dictionaries(short_texts, json_garbage, min_size=1, max_size=3))

            def add_extra(old: JSON, extra: JSON = extra) -> JSON:
                return {**old, **extra} if isinstance(old, dict) else old

            tree = _replace(tree, path[:-1], add_extra)
        elif mutation == "huge_string":
            tree = _replace(tree, path, lambda _old: draw(st.sampled_from(HUGE_TEXTS)))
        elif mutation == "surrogates":
            tree = _replace(tree, path, lambda _old: draw(surrogates))
        elif mutation == "nested_garbage":
            tree = _replace(tree, path, lambda _old: draw(json_garbage))
        elif isinstance(tree, dict) and "update_id" in tree:
            if mutation == "drop_update_id":
                tree = {k: v for k, v in tree.items() if k != "update_id"}
            elif mutation == "update_id_wrong_type":
                tree = {
                    **tree,
                    "update_id": draw(
                        st.one_of(short_texts, st.floats(allow_nan=False), st.booleans(), st.none(), st.just([1]))
                    ),
                }
            else:
                tree = {**tree, "update_id": draw(st.sampled_from([1, 2, 3]))}  # the same ids again and again
    return tree


# --------------------------------------------------------------------------------------------------
# Telegram requests
# --------------------------------------------------------------------------------------------------
@dataclass
class TelegramRequest:
    """A POST to ``/telegram/{line}``: `body` is a JSON tree (with Refs) or raw bytes; `secret` None
    sends no secret header."""

    body: Any
    line: str = "support"
    secret: str | None = WEBHOOK_SECRET
    content_type: str = JSON_CONTENT

    @property
    def raw(self) -> bool:
        return isinstance(self.body, bytes)


RAW_BODIES = (
    b"",
    b"null",
    b"[]",
    b"[{}]",
    b"42",
    b'"update"',
    b"{",
    b"{}",
    b'{"update_id": NaN}',
    b'{"update_id": Infinity, "message": {}}',
    b'{"update_id": 1e400}',
    b'{"update_id": 12345678901234567890123}',
    b"\xff\xfe\x00",
    b'{"update_id": 7, "update_id": "x"}',
    b"<xml/>",
    b"update_id=1",
    b'{"update_id": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deep nesting
    b'{"update_id": 5, "message": "' + b"A" * (1024 * 1024) + b'"}',
)  # over 1 MB: 413


def telegram_requests() -> SearchStrategy[TelegramRequest]:
    valid = valid_telegram_updates()
    return weighted(
        (12, valid.map(TelegramRequest)),
        (5, mutated(valid).map(TelegramRequest)),
        (1, st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=64)).map(TelegramRequest)),
        (
            1,
            st.builds(
                TelegramRequest,
                valid,
                st.just("support"),
                st.sampled_from([None, "", "wrong", WEBHOOK_SECRET + "x", SALES_SECRET, WEBHOOK_SECRET.upper()]),
            ),
        ),
        (
            1,
            st.builds(
                TelegramRequest,
                valid,
                st.sampled_from(["sales", "nope", "SUPPORT", "support%00", "..", "😀"]),
                st.sampled_from([SALES_SECRET, WEBHOOK_SECRET]),
            ),
        ),
        (
            1,
            st.builds(
                TelegramRequest,
                valid,
                st.just("support"),
                st.just(WEBHOOK_SECRET),
                st.sampled_from(["text/plain", FORM, "application/json; charset=latin-1", ""]),
            ),
        ),
    )


# --------------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------------
SLACK_OPERATORS = (ANNA.slack_user, CARL.slack_user, BORIS.slack_user)
slack_users: SearchStrategy[Any] = weighted(
    (5, st.sampled_from(SLACK_OPERATORS)),
    (1, st.just(STRANGER.slack_user)),
    (1, st.just(PETRA.slack_user)),
    (1, st.just(Ref("bot_user"))),
    (1, st.sampled_from(["USLACKBOT", "", "W0NOBODY"])),
    (1, short_texts),
)
slack_channels: SearchStrategy[Any] = weighted(
    (5, st.just(DESK_CHANNEL)),
    (2, st.just(SALES_CHANNEL)),
    (2, st.just(Ref("dm"))),
    (1, st.sampled_from(["C0NOWHERE", "D0NOBODY", "G0PRIVATE", ""])),
    (1, short_texts),
)
slack_ts: SearchStrategy[Any] = weighted(
    (3, ref("thread_ts", 3)),
    (2, st.just(Ref("ts"))),
    (1, ref("reply_ts", 2)),
    (1, st.sampled_from(["1.0", "0", "", "9999999999.999999", "abc", "1234567890.123456"])),
    (1, short_texts),
)
slack_text = texts


def _user_object(user: Any) -> JSON:
    return {"id": user, "username": "someone", "name": "someone", "team_id": Ref("team")}


def _team() -> JSON:
    return {"id": Ref("team"), "domain": "sandbox"}


@dataclass
class SlackRequest:
    """A POST to ``/slack/events``. `encoding`: "json" (body is a JSON tree), "form" (body is a dict of
    form fields), "payload" (an interaction: ``payload=<JSON of body>``) or "raw" (bytes as they are).
    `signing`: "valid", "missing", "bad" or "stale" (a valid signature six minutes old)."""

    body: Any
    encoding: str = "json"
    content_type: str | None = JSON_CONTENT
    signing: str = "valid"
    retry_num: int | None = None


# --- events -----------------------------------------------------------------------------------------
MESSAGE_SUBTYPES = (
    None,
    None,
    None,
    None,
    "file_share",
    "thread_broadcast",
    "message_changed",
    "message_deleted",
    "bot_message",
    "channel_join",
    "me_message",
    "message_replied",
    "tombstone",
)


@st.composite
def slack_files(draw: st.DrawFn) -> list[JSON]:
    files = []
    for _ in range(draw(st.integers(0, 2))):
        files.append(
            {
                "id": draw(st.sampled_from(["F0NOPE", "F123"])),
                "name": draw(short_texts),
                "title": draw(short_texts),
                "mimetype": draw(st.sampled_from(["image/png", "text/plain", ""])),
                "filetype": "png",
                "size": draw(st.one_of(st.integers(0, 30 * 1024 * 1024), extreme_ints)),
                "url_private": draw(st.sampled_from(["http://127.0.0.1:1/nope", "", "not a url"])),
                "mode": draw(st.sampled_from(["hosted", "tombstone", "external"])),
            }
        )
    return files


@st.composite
def slack_message_event(draw: st.DrawFn) -> JSON:
    subtype = draw(st.one_of(st.sampled_from(MESSAGE_SUBTYPES), short_texts))
    channel = draw(slack_channels)
    channel_type = draw(
        st.one_of(
            st.sampled_from(["channel", "im", "group", "mpim"]),
            st.just("im") if channel == Ref("dm") else st.just("channel"),
        )
    )
    user = draw(slack_users)
    event: JSON = {"type": "message", "channel": channel, "channel_type": channel_type, "event_ts": Ref("ts")}
    if subtype == "message_changed":
        ts = draw(slack_ts)
        new = {"type": "message", "user": draw(slack_users), "text": draw(slack_text), "ts": ts}
        if draw(st.booleans()):
            new["thread_ts"] = draw(ref("thread_ts", 3))
        event.update(
            subtype=subtype, hidden=True, ts=Ref("ts"), message=new, previous_message={**new, "text": draw(slack_text)}
        )
        if draw(st.integers(0, 4)) == 0:
            event["message"] = draw(json_garbage)
    elif subtype == "message_deleted":
        ts = draw(slack_ts)
        event.update(
            subtype=subtype,
            hidden=True,
            ts=Ref("ts"),
            deleted_ts=ts,
            previous_message={"type": "message", "user": user, "text": draw(slack_text), "ts": ts},
        )
    else:
        event.update(user=user, text=draw(slack_text), ts=Ref("ts"))
        if subtype is not None:
            event["subtype"] = subtype
        if subtype == "bot_message":
            event["bot_id"] = draw(st.sampled_from(["B0OTHER", Ref("bot_id")]))
        if subtype == "file_share" or draw(st.integers(0, 5)) == 0:
            event["files"] = draw(slack_files())
        if draw(weighted((3, st.just(True)), (1, st.just(False)))):
            event["thread_ts"] = draw(slack_ts)
            event["parent_user_id"] = Ref("bot_user")
        if draw(st.booleans()):
            event["blocks"] = [
                {
                    "type": "rich_text",
                    "block_id": "x",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": draw(short_texts)}]}
                    ],
                }
            ]
    return event


@st.composite
def slack_app_home_opened(draw: st.DrawFn) -> JSON:
    event: JSON = {
        "type": "app_home_opened",
        "user": draw(slack_users),
        "channel": draw(slack_channels),
        "tab": draw(st.one_of(st.sampled_from(["home", "messages"]), short_texts)),
        "event_ts": Ref("ts"),
    }
    if draw(st.booleans()):
        event["view"] = draw(st.one_of(json_garbage, st.just({"id": "V0HOME", "type": "home", "blocks": []})))
    return event


@lru_cache(maxsize=1)
def slack_event_types() -> tuple[str, ...]:
    """The event names of the Events API spec (topics ``message.im`` → ``message`` …)."""
    path = REFERENCE / "slack_api_specs" / "slack_events_api_async_v1.json"
    names = {"app_mention", "reaction_added", "member_joined_channel", "team_join", "tokens_revoked"}
    topics = json.loads(path.read_text(encoding="utf-8"))["topics"]
    names |= {topic.split(".")[0] if topic.startswith("message") else topic.replace(".", "_") for topic in topics}
    return tuple(sorted(names))


@st.composite
def slack_other_event(draw: st.DrawFn) -> JSON:
    event: JSON = {
        "type": draw(st.one_of(st.sampled_from(slack_event_types()), short_texts)),
        "user": draw(slack_users),
        "channel": draw(slack_channels),
        "event_ts": Ref("ts"),
    }
    event.update(draw(st.dictionaries(short_texts, json_garbage, max_size=3)))
    return event


@lru_cache(maxsize=1)
def _reference_slack(name: str) -> JSON:
    path = REFERENCE / "slack" / name
    loaded: JSON = json.loads(path.read_text(encoding="utf-8"))
    return loaded


REFERENCE_EVENTS = (
    "slack_event_message_channel__bolt_python.json",
    "slack_event_message_thread_broadcast__bolt_python.json",
    "slack_event_message_changed__bolt_python.json",
    "slack_event_message_thread_reply__bolt_python.json",
    "slack_event_app_home_opened__bolt_python.json",
)


@st.composite
def slack_reference_event(draw: st.DrawFn) -> JSON:
    """A reference envelope's event, aimed at linedesk's channels, users and threads."""
    body = _reference_slack(draw(st.sampled_from(REFERENCE_EVENTS)))
    event = copy.deepcopy(body.get("event") or {})
    if "channel" in event:
        event["channel"] = draw(slack_channels)
    if "user" in event:
        event["user"] = draw(slack_users)
    if "thread_ts" in event:
        event["thread_ts"] = draw(slack_ts)
    if "ts" in event:
        event["ts"] = Ref("ts")
    return event


def _envelope(event: JSON, event_id: Any) -> JSON:
    return {
        "token": "verification_token",
        "team_id": Ref("team"),
        "api_app_id": Ref("app"),
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": Ref("team"),
                "user_id": Ref("bot_user"),
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "authed_users": [Ref("bot_user")],
        "is_ext_shared_channel": False,
    }


slack_events: SearchStrategy[JSON] = weighted(
    (6, slack_message_event()), (2, slack_app_home_opened()), (1, slack_other_event()), (2, slack_reference_event())
)
event_ids = weighted(
    (8, st.just(Ref("event_id"))),
    (1, st.sampled_from(["Ev111", "EvDUPLICATE"])),
    (1, st.one_of(st.none(), st.just(""), any_int)),
)


@st.composite
def slack_event_requests(draw: st.DrawFn) -> SlackRequest:
    body = _envelope(draw(slack_events), draw(event_ids))
    retry = draw(weighted((6, st.none()), (1, st.integers(1, 3))))
    return SlackRequest(body, "json", JSON_CONTENT, retry_num=retry)


url_verifications = st.builds(
    lambda challenge: SlackRequest({"token": "verification_token", "challenge": challenge, "type": "url_verification"}),
    st.one_of(short_texts, json_garbage),
)

# --- slash commands ----------------------------------------------------------------------------------
STATUS_WORDS = ("online", "busy", "offline", "ONLINE", " online ", "away", "", "online busy")
autostart_texts = weighted(
    (
        3,
        cat(
            st.sampled_from(["support", "sales", "nope", ""]),
            " ",
            st.one_of(st.sampled_from(EVENTS), short_texts),
            " ",
            st.one_of(ref("process_id", 3), short_texts),
            " ",
            st.sampled_from(["on", "off", "maybe", ""]),
        ),
    ),
    (
        1,
        st.lists(st.sampled_from(["support", "session.created", "create_lead", "on", "off", "x"]), max_size=6).map(
            " ".join
        ),
    ),
    (1, texts),
)
COMMAND_TEXTS: dict[str, SearchStrategy[Any]] = {
    "/status": st.one_of(st.sampled_from(STATUS_WORDS), texts),
    "/startprocess": st.one_of(numbers, st.sampled_from(["", "1 2", "#", "# 1"]), texts),
    COMMAND: autostart_texts,
}


@st.composite
def slack_slash_commands(draw: st.DrawFn) -> SlackRequest:
    command = draw(
        weighted(
            (8, st.sampled_from(sorted(COMMAND_TEXTS))),
            (1, st.sampled_from(["/hello-world", "/", ""])),
            (1, short_texts),
        )
    )
    text = draw(COMMAND_TEXTS.get(command, texts))
    user = draw(slack_users)
    fields: JSON = {
        "token": "verification_token",
        "team_id": Ref("team"),
        "team_domain": "sandbox",
        "channel_id": draw(slack_channels),
        "channel_name": "support-desk",
        "user_id": user,
        "user_name": "someone",
        "command": command,
        "text": text,
        "api_app_id": Ref("app"),
        "is_enterprise_install": "false",
        "response_url": Ref("response_url"),
        "trigger_id": Ref("trigger"),
    }
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):  # missing fields
        if draw(st.integers(0, 3)) == 0:
            del fields[key]
    return SlackRequest(fields, "form", FORM)


# --- interactions ----------------------------------------------------------------------------------
ACTION_IDS: SearchStrategy[Any] = weighted(
    (
        3,
        st.sampled_from(
            [
                views.TAKE,
                views.START,
                views.CLOSE,
                views.MENU,
                views.UNSPAM,
                views.TRANSFER_TO,
                views.TASK_OPEN,
                views.TASK_TAKE,
                TOGGLE,
                PAGE,
                STATUS,
                HOME_IDS.toggle,
                HOME_IDS.page,
            ]
        ),
    ),
    (1, cat(views.START + ":", numbers)),
    (1, cat(views.TRANSFER_TO + ":", st.one_of(st.sampled_from(["queue", "0", "1"]), short_texts))),
    (1, cat(views.PICK + ":", st.one_of(ref("process_id", 3), short_texts))),
    (1, cat(views.PICK_SELECT + ":", numbers)),
    (
        1,
        cat(
            st.sampled_from([PROCESS, HOME_IDS.process]),
            ":",
            st.sampled_from(["support", "sales", "x", ""]),
            ":",
            st.one_of(st.sampled_from(EVENTS), short_texts),
        ),
    ),
    (1, st.one_of(short_texts, st.sampled_from(["a", "value", "session", "process.pick", "home.autostart.process"]))),
)
ACTION_VALUES: SearchStrategy[Any] = weighted(
    (3, numbers),
    (1, cat(st.sampled_from([views.MENU_TRANSFER, views.MENU_QUEUE, views.MENU_SPAM, "x"]), ":", numbers)),
    (1, cat(numbers, ":", st.one_of(st.sampled_from(["anna", "carl", "boris", "", "Anna!", "x" * 65]), short_texts))),
    (1, cat('{"s":', numbers, ',"p":"', st.one_of(ref("process_id", 3), short_texts), '"}')),
    (1, st.one_of(ref("instance", 1), st.just(Ref("instance")))),
    (
        1,
        cat(
            st.sampled_from(["support", "sales", "x"]),
            ":",
            st.one_of(st.sampled_from(EVENTS), short_texts),
            ":",
            st.sampled_from(["on", "off", "x"]),
        ),
    ),
    (1, st.one_of(st.sampled_from(["online", "busy", "offline", "banana"]), ref("process_id", 3))),
    (1, texts),
    (1, json_garbage.map(lambda v: json.dumps(v, ensure_ascii=False))),
)


@st.composite
def slack_actions(draw: st.DrawFn) -> JSON:
    kind = draw(
        st.sampled_from(
            ["button", "button", "button", "static_select", "overflow", "radio_buttons", "users_select", "datepicker"]
        )
    )
    action: JSON = {"action_id": draw(ACTION_IDS), "block_id": draw(short_texts), "type": kind, "action_ts": Ref("ts")}
    value = draw(ACTION_VALUES)
    if kind == "button":
        action.update(value=value, text={"type": "plain_text", "text": "Button"})
    elif kind == "users_select":
        action["selected_user"] = draw(slack_users)
    elif kind == "datepicker":
        action["selected_date"] = draw(st.sampled_from(["2030-01-31", "x", ""]))
    else:
        action["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    return action


@st.composite
def slack_block_actions(draw: st.DrawFn) -> JSON:
    user = draw(slack_users)
    channel = draw(slack_channels)
    payload: JSON = {
        "type": "block_actions",
        "user": _user_object(user),
        "api_app_id": Ref("app"),
        "token": "verification_token",
        "trigger_id": Ref("trigger"),
        "team": _team(),
        "response_url": Ref("response_url"),
        "actions": [draw(slack_actions())],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    where = draw(st.sampled_from(["message", "message", "message", "ephemeral", "view", "home"]))
    if where in ("message", "ephemeral"):
        ts = draw(slack_ts)
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": where == "ephemeral",
        }
        payload["channel"] = {"id": channel, "name": "support-desk"}
        payload["state"] = {"values": {}}
        if where == "message":
            payload["message"] = {"type": "message", "ts": ts, "text": "card", "user": Ref("bot_user")}
            if draw(st.booleans()):
                payload["message"]["thread_ts"] = draw(ref("thread_ts", 3))
    else:
        view_id = draw(st.one_of(st.just(Ref("view")), short_texts))
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {
            "id": view_id,
            "type": "modal" if where == "view" else "home",
            "blocks": [],
            "callback_id": draw(st.sampled_from([views.TASK_FORM, "home", ""])),
            "private_metadata": draw(metadata),
            "state": {"values": {}},
        }
    if draw(st.integers(0, 6)) == 0:
        payload["actions"] = draw(
            st.one_of(st.just([]), json_garbage, st.lists(slack_actions(), min_size=2, max_size=3))
        )
    return payload


metadata: SearchStrategy[Any] = weighted(
    (
        4,
        cat(
            '{"i":"',
            st.one_of(st.just(Ref("instance")), short_texts),
            '","t":"',
            st.one_of(st.just(Ref("task")), short_texts),
            '"}',
        ),
    ),
    (1, st.sampled_from(["", "{}", '{"i":1}', '{"i":null,"t":null}', "[]", "null", "This is for you!", "{"])),
    (1, json_garbage.map(json.dumps)),
)
FORM_FIELDS = ("phone", "kind", "urgent", "hspI")


@st.composite
def state_value(draw: st.DrawFn) -> JSON:
    kind = draw(
        st.sampled_from(
            ["plain_text_input", "static_select", "radio_buttons", "datepicker", "number_input", "checkboxes", "weird"]
        )
    )
    if kind in ("static_select", "radio_buttons"):
        option = draw(
            st.one_of(
                st.none(),
                st.sampled_from(["repair", "installation", "consultation", "true", "false"]).map(
                    lambda v: {"value": v}
                ),
                json_garbage,
            )
        )
        return {"type": kind, "selected_option": option}
    if kind == "datepicker":
        return {
            "type": kind,
            "selected_date": draw(st.one_of(st.sampled_from(["2030-01-31", "2030-02-30"]), texts, st.none())),
        }
    if kind == "checkboxes":
        return {"type": kind, "selected_options": draw(json_garbage)}
    if kind == "weird":
        return draw(json_garbage)
    return {"type": kind, "value": draw(st.one_of(texts, numbers, st.none(), json_garbage))}


@st.composite
def slack_view_submissions(draw: st.DrawFn) -> JSON:
    values = draw(
        st.dictionaries(
            st.one_of(st.sampled_from(FORM_FIELDS), short_texts),
            st.one_of(
                st.dictionaries(st.one_of(st.just(views.FIELD_ACTION), short_texts), state_value(), max_size=2),
                json_garbage,
            ),
            max_size=4,
        )
    )
    reference = copy.deepcopy(_reference_slack("slack_view_submission__bolt_python.json")) or {"view": {}}
    view = dict(reference.get("view") or {})
    view.update(
        id=draw(st.one_of(st.just(Ref("view")), short_texts)),
        team_id=Ref("team"),
        app_id=Ref("app"),
        callback_id=draw(
            weighted((4, st.just(views.TASK_FORM)), (1, st.sampled_from(["home", "", "view-id"])), (1, short_texts))
        ),
        private_metadata=draw(metadata),
        state={"values": values},
    )
    if draw(st.booleans()):
        view["blocks"] = [
            {
                "type": "input",
                "block_id": name,
                "label": {"type": "plain_text", "text": name},
                "element": {"type": "plain_text_input", "action_id": views.FIELD_ACTION},
            }
            for name in FORM_FIELDS[:3]
        ]
    payload = {
        **reference,
        "type": "view_submission",
        "team": _team(),
        "user": _user_object(draw(slack_users)),
        "api_app_id": Ref("app"),
        "trigger_id": Ref("trigger"),
        "view": view,
        "response_urls": [],
    }
    if draw(st.integers(0, 6)) == 0:
        payload["view"] = draw(json_garbage)
    return payload


@st.composite
def slack_view_closed(draw: st.DrawFn) -> JSON:
    return {
        "type": "view_closed",
        "team": _team(),
        "user": _user_object(draw(slack_users)),
        "api_app_id": Ref("app"),
        "view": {
            "id": Ref("view"),
            "callback_id": draw(st.sampled_from([views.TASK_FORM, "x"])),
            "private_metadata": draw(metadata),
        },
        "is_cleared": draw(st.booleans()),
    }


@st.composite
def slack_options(draw: st.DrawFn) -> JSON:
    """A select menu with an external data source asks for options (`block_suggestion`)."""
    payload: JSON = {
        "type": "block_suggestion",
        "user": _user_object(draw(slack_users)),
        "team": _team(),
        "api_app_id": Ref("app"),
        "token": "verification_token",
        "action_id": draw(ACTION_IDS),
        "block_id": draw(short_texts),
        "value": draw(texts),
        "container": {"type": "message", "message_ts": draw(slack_ts), "channel_id": DESK_CHANNEL},
    }
    if draw(st.booleans()):
        payload["channel"] = {"id": draw(slack_channels), "name": "x"}
    return payload


@st.composite
def slack_shortcuts(draw: st.DrawFn) -> JSON:
    channel = draw(slack_channels)
    ts = draw(slack_ts)
    message: JSON = {"type": "message", "ts": ts, "text": draw(short_texts), "user": draw(slack_users)}
    if draw(st.booleans()):
        message["thread_ts"] = draw(ref("thread_ts", 3))
    return {
        "type": draw(st.sampled_from(["message_action", "shortcut"])),
        "callback_id": draw(weighted((3, st.just(SHORTCUT)), (1, short_texts))),
        "trigger_id": Ref("trigger"),
        "response_url": Ref("response_url"),
        "team": _team(),
        "user": _user_object(draw(slack_users)),
        "channel": {"id": channel, "name": "x"},
        "message_ts": ts,
        "message": message,
        "action_ts": Ref("ts"),
        "token": "verification_token",
    }


slack_interactions: SearchStrategy[JSON] = weighted(
    (6, slack_block_actions()),
    (3, slack_view_submissions()),
    (1, slack_view_closed()),
    (1, slack_options()),
    (1, slack_shortcuts()),
)


# --- malformed ----------------------------------------------------------------------------------------
SLACK_RAW: tuple[tuple[bytes, str | None], ...] = (
    (b"", JSON_CONTENT),
    (b"", FORM),
    (b"{", JSON_CONTENT),
    (b"[]", JSON_CONTENT),
    (b"null", JSON_CONTENT),
    (b"42", JSON_CONTENT),
    (b'"x"', JSON_CONTENT),
    (b"payload=", FORM),
    (b"payload={", FORM),
    (b"payload=%5B%5D", FORM),
    (b"payload=null", FORM),
    (b"payload=42", FORM),
    (b"payload=%22x%22", FORM),
    (b"payload=%7B%7D", FORM),
    (b'payload={"type":"block_actions"}', FORM),
    (b"command=%2Fstatus", FORM),
    (b"command=/status&command=/startprocess&text=1&text=2", FORM),
    (b"a=b&&&==", FORM),
    (b"%%%", FORM),
    (b'{"type":"event_callback"}', JSON_CONTENT),
    (b'{"type":"event_callback","event":null}', JSON_CONTENT),
    (b'{"type":"event_callback","event":[]}', JSON_CONTENT),
    (b'{"type": "url_verification"}', JSON_CONTENT),
    (b'{"type":"event_callback","event":{"type":"message"}}', FORM),
    (b"command=/status&text=online", JSON_CONTENT),
    (b'{"type":"event_callback","event":{"type":"message"}}', "text/plain"),
    (b"\xff\xfe\x00\x01", JSON_CONTENT),
    (b"\xff\xfe\x00\x01", FORM),
    (b'{"type":"event_callback"}', None),
    (b"payload=%FF%FE", FORM),
    (b'{"type":"event_callback","event":{"type":"message"},"event_id":["x"]}', JSON_CONTENT),
    (b'{"type":"event_callback","event":{"type":"message"},"event_id":{"a":1}}', JSON_CONTENT),
    (b'--b\r\nContent-Disposition: form-data; name="payload"\r\n\r\n{}\r\n--b--', "multipart/form-data; boundary=b"),
)


def _raw_request(pair: tuple[bytes, str | None]) -> SlackRequest:
    return SlackRequest(pair[0], "raw", pair[1])


@st.composite
def slack_malformed(draw: st.DrawFn) -> SlackRequest:
    choice = draw(
        st.sampled_from(
            [
                "raw",
                "raw",
                "mutated_event",
                "mutated_interaction",
                "mutated_form",
                "payload_not_json",
                "wrong_content_type",
                "binary",
            ]
        )
    )
    if choice == "raw":
        return _raw_request(draw(st.sampled_from(SLACK_RAW)))
    if choice == "mutated_event":
        body = draw(mutated(slack_events.map(lambda e: _envelope(e, Ref("event_id"))), MUTATIONS[:6]))
        return SlackRequest(body, "json", JSON_CONTENT)
    if choice == "mutated_interaction":
        return SlackRequest(draw(mutated(slack_interactions, MUTATIONS[:6])), "payload", FORM)
    if choice == "mutated_form":
        request = draw(slack_slash_commands())
        fields = {key: draw(st.one_of(st.just(value), short_texts)) for key, value in request.body.items()}
        fields.update(draw(st.dictionaries(short_texts, short_texts, max_size=2)))
        return SlackRequest(fields, "form", FORM)
    if choice == "payload_not_json":
        return SlackRequest({"payload": draw(st.one_of(texts, st.just("{'python': 'dict'}")))}, "form", FORM)
    if choice == "wrong_content_type":
        request = draw(
            st.one_of(
                slack_event_requests(),
                slack_slash_commands(),
                slack_interactions.map(lambda p: SlackRequest(p, "payload", FORM)),
            )
        )
        request.content_type = draw(
            st.sampled_from([FORM, JSON_CONTENT, "text/plain", None, "application/json; charset=utf-16"])
        )
        return request
    return SlackRequest(draw(st.binary(max_size=64)), "raw", draw(st.sampled_from([FORM, JSON_CONTENT])))


@st.composite
def slack_unsigned(draw: st.DrawFn) -> SlackRequest:
    request = draw(
        st.one_of(
            slack_event_requests(),
            slack_slash_commands(),
            slack_interactions.map(lambda p: SlackRequest(p, "payload", FORM)),
        )
    )
    request.signing = draw(st.sampled_from(["missing", "bad", "stale"]))
    return request


def slack_requests() -> SearchStrategy[SlackRequest]:
    return weighted(
        (5, slack_event_requests()),
        (4, slack_slash_commands()),
        (7, slack_interactions.map(lambda payload: SlackRequest(payload, "payload", FORM))),
        (1, url_verifications),
        (4, slack_malformed()),
        (1, slack_unsigned()),
    )


@dataclass
class Mixed:
    """Requests to both endpoints, sent concurrently."""

    requests: list[TelegramRequest | SlackRequest] = field(default_factory=list)


def mixed_requests(max_size: int = 5) -> SearchStrategy[Mixed]:
    return st.lists(st.one_of(telegram_requests(), slack_requests()), min_size=2, max_size=max_size).map(Mixed)
