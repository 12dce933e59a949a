"""The Web API methods the Slack sandbox answers, implemented on :class:`SlackWorkspace`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .helpers import _normalise_blocks, _paginate, _Params
from .records import JSON, MESSAGE_BLOCK_LIMIT, TEXT_LIMIT, SlackChannel, SlackFile, _ApiError
from .state import SlackWorkspace


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
        items = _with_metadata([channel.render(head), *channel.thread(thread_ts)], p)
        page, cursor = _paginate(items, p, 1000)
        return {"messages": page, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def conversations_history(self, p: _Params) -> JSON:
        channel = self.ws.channel(p.require("channel", "channel_not_found"))
        oldest, latest = float(p.get("oldest") or 0), float(p.get("latest") or "inf")
        inclusive = p.flag("inclusive")

        def within(ts: str) -> bool:
            value = float(ts)
            return (oldest <= value <= latest) if inclusive else (oldest < value < latest)

        items = _with_metadata([m for m in reversed(channel.roots()) if within(m["ts"])], p)
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


def _with_metadata(messages: list[JSON], p: _Params) -> list[JSON]:
    """Slack returns message metadata in a history only when asked (`include_all_metadata`)."""
    if p.flag("include_all_metadata"):
        return messages
    return [{k: v for k, v in m.items() if k != "metadata"} if "metadata" in m else m for m in messages]
