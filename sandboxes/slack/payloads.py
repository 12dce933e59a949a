"""Inbound payloads, the Slack side: slash commands, interactions and Events API callbacks."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .helpers import _find_element, _form, _interaction, _option, _plain_text, _rich_text, _state_values
from .records import JSON, JSON_CONTENT, SlackFile, SlackIdentity, _dumps, _ResponseUrl
from .state import SlackWorkspace


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
