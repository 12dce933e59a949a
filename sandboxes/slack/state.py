"""What the Slack sandbox stores: the workspace (users, channels, messages, ephemerals, files), views, trigger ids."""

from __future__ import annotations

import copy
import itertools
import mimetypes
import secrets
import time
from typing import Any

from .helpers import _checked_view, _Clock, _Ids, _normalise_blocks, _Params, _plain_text
from .records import (
    JSON,
    MESSAGE_BLOCK_LIMIT,
    MODAL_STACK_LIMIT,
    SlackChannel,
    SlackFile,
    SlackIdentity,
    SlackUser,
    SlackView,
    _ApiError,
    _ResponseUrl,
    _Trigger,
)


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
