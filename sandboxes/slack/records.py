"""Records of the Slack sandbox (calls, identities, users, channels, files, views, failures) and Slack's limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
