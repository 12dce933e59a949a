"""The config's pydantic models: the TOML file of SPEC §4, and the fields the environment of §3 sets.

Secrets (bot tokens, signing secrets, the admin token) are plain `str` attributes for
the code that needs them, but are left out of `repr()`/`str()` and `model_dump()`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from core.config.durations import Duration
from core.config.errors import format_key
from core.config.hours import HoursConfig
from core.config.replies import ReplyConfig, check_replies
from core.config.rules import check_rules
from core.config.values import Int, check_http_url, check_id, redact_url

AutostartEvent = Literal[
    "session.created",
    "message.received",
    "session.closed",
    "session.rated",
    "session.assigned",
    "session.overdue",
]

_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_STORE_SCHEMES = ("sqlite:///", "redis://", "rediss://")

# Fields of `Config` that come from outside the TOML file: the file may not set them.
NOT_FROM_FILE = frozenset({"config_path", "base_dir", "admin_token", "worker_token", "log_format"})
# Validation context flag: the loader runs the rules itself, per item, to report all problems.
SKIP_RULES = "linedesk_skip_rules"


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    host: str = Field(default="127.0.0.1", min_length=1)
    port: Int = Field(default=8080, ge=1, le=65535)
    public_url: str = ""
    """Empty: Telegram long polling. Otherwise webhooks at public_url + "/telegram/<line id>"."""

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        check_http_url(value)
        return value.rstrip("/")


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str = "sqlite:///linedesk.db"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(_STORE_SCHEMES):
            raise ValueError("must start with sqlite:///, redis:// or rediss://")
        if value.startswith("sqlite:///") and not value[len("sqlite:///") :].split("?", 1)[0]:
            raise ValueError("sqlite:/// needs a file name, e.g. sqlite:///linedesk.db")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A Redis URL may carry a password: never show it.
        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name == "url" and isinstance(value, str) else value)


class TelegramConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_url: str = "https://api.telegram.org"
    """Bot API server; stored without trailing slash."""

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip()
        check_http_url(value)
        return value.rstrip("/")


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_url: str = "https://slack.com/api/"
    """Web API base; stored with a trailing slash (slack_sdk's `base_url` convention)."""
    bot_token: str = Field(default="", repr=False, exclude=True)
    signing_secret: str = Field(default="", repr=False, exclude=True)
    app_token: str = Field(default="", repr=False, exclude=True)
    """xapp-…: enables Socket Mode."""

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip()
        check_http_url(value)
        return value.rstrip("/") + "/"

    @field_validator("bot_token", "signing_secret", "app_token")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class ProcessesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    dir: Path = Path("processes")
    """The catalog folder; `Config` makes it absolute (relative to the config file's folder)."""
    http_allow: list[str] = Field(default_factory=list)
    """Hosts the linedesk.http block may call (lower-cased)."""

    @field_validator("http_allow")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        hosts = []
        for host in value:
            host = host.strip().lower()
            if not host or "/" in host or any(ch.isspace() for ch in host):
                raise ValueError("each entry must be a host name like 'api.example.com', not a URL")
            hosts.append(host)
        return hosts


class DeliveryConfig(BaseModel):
    """How long work claimed by one linedesk instance stays its own (SPEC §8).

    An outbox conversation or a stored inbound event claimed by an instance is leased for `lease`
    seconds and the lease is renewed while the work goes on; if the instance dies (kill -9, a lost
    machine), another instance — or the same one restarted — takes the work over once the lease runs out.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    lease: float = Field(default=15.0, ge=0.5, le=3600.0)
    """Seconds; the recovery time after a crash is at most this (plus the sweep interval)."""
    pace: bool = True
    """Keep sends under the platforms' rate limits (SPEC §8). Off only against sandboxes (load tests)."""


class AutostartRuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    event: AutostartEvent
    process: str = Field(min_length=1)
    """A BPMN process id; that it exists in the catalog is checked by the catalog code."""
    enabled: bool = True


class LineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str
    name: str = Field(min_length=1)
    telegram_token: str = Field(default="", repr=False, exclude=True)
    telegram_webhook_secret: str = Field(default="", repr=False, exclude=True)
    slack_dm: bool = False
    slack_desk_channel: str = ""
    """The Slack desk: one channel ID, one thread per session (or `slack_desk_channels`, not both)."""
    slack_desk_channels: list[str] | None = None
    """Several Slack desk channels: a new session's thread goes to the one with the fewest open sessions of
    the line (ties: the first listed). None: not set (an empty list is a config error)."""
    telegram_desk_chat: Int | None = None
    greeting: str = "Hello! An operator will answer shortly."
    auto_close_after: Duration = 4 * 3600.0
    reopen_within: Duration = 10 * 60.0
    auto_assign: bool = False
    operator_joined: str = "{operator} joined the conversation."
    """Told to the client when an operator takes their session ("{operator}": the operator's name; "" says nothing)."""
    queued_note: str = ""
    """Told to the client when `auto_assign` finds nobody online ("": nothing)."""
    autostart: list[AutostartRuleConfig] = Field(default_factory=list)
    rating: bool = False
    """Ask the client "How did we do?" (1–5 buttons) when a session is closed (SPEC §14)."""
    hours: HoursConfig | None = None
    """Business hours (SPEC §14); None: always open."""
    out_of_hours_message: str = ""
    """Sent instead of the greeting to a client who opens a session outside `hours` ("": the greeting)."""
    first_response_within: Duration | None = None
    """Service level: an operator's first message to the client within this much business time."""
    resolve_within: Duration | None = None
    """Service level: the session closed within this much business time."""
    tell_queue_position: bool = False
    """The greeting of a queued client says their place in the line's queue."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_id(value)

    @field_validator("telegram_token", "slack_desk_channel")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("slack_desk_channels")
    @classmethod
    def _strip_channels(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [channel.strip() for channel in value]

    @property
    def desk_channels(self) -> list[str]:
        """The line's Slack desk channels, from either key (empty: no Slack desk)."""
        if self.slack_desk_channels is not None:
            return [channel for channel in self.slack_desk_channels if channel]
        return [self.slack_desk_channel] if self.slack_desk_channel else []

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str) -> str:
        value = value.strip()
        if value and not _WEBHOOK_SECRET_RE.fullmatch(value):
            # Telegram's rule for setWebhook's secret_token. Never echo the value.
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule)")
        return value

    def autostart_rule(self, event: str) -> AutostartRuleConfig | None:
        """The file's rule for that event, if any (one per event)."""
        return next((rule for rule in self.autostart if rule.event == event), None)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    id: str
    name: str = Field(min_length=1)
    slack_user: str = ""
    telegram_user: Int | None = None
    lines: list[str] = Field(default_factory=lambda: ["*"])
    """Line ids this operator works, or ["*"] for all."""
    admin: bool = False
    groups: list[str] = Field(default_factory=list)
    """Candidate groups (`camunda:candidateGroups`) this operator belongs to; every line id it works is one too."""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_id(value)

    @field_validator("slack_user")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def serves(self, line_id: str) -> bool:
        return "*" in self.lines or line_id in self.lines


class LineIndex:
    """The lines by id, for the list of lines it was built from (rebuilt when `Config.lines` is another list or
    another length)."""

    def __init__(self) -> None:
        self._lines: list[LineConfig] | None = None
        self._by_id: dict[str, LineConfig] = {}

    def get(self, lines: list[LineConfig], line_id: str) -> LineConfig | None:
        if lines is not self._lines or len(lines) != len(self._by_id):
            self._lines, self._by_id = lines, {line.id: line for line in lines}
        return self._by_id.get(line_id)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    server: ServerConfig = Field(default_factory=ServerConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    processes: ProcessesConfig = Field(default_factory=ProcessesConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    lines: list[LineConfig] = Field(default_factory=list)
    operators: list[OperatorConfig] = Field(default_factory=list)
    replies: list[ReplyConfig] = Field(default_factory=list)
    """Saved replies (SPEC §14): `/reply` in a session's thread or topic."""

    # Not from the TOML file (a file setting them gets "unknown key"):
    config_path: Path | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    """The config file's folder: relative paths in the config are relative to it."""
    admin_token: str = Field(default="", repr=False, exclude=True)
    """LINEDESK_ADMIN_TOKEN: bearer token of the admin HTTP API."""
    worker_token: str = Field(default="", repr=False, exclude=True)
    """LINEDESK_WORKER_TOKEN: bearer token of the Camunda REST API for workers (`/engine-rest`, SPEC §12)."""
    log_format: Literal["text", "json"] = Field(default="text", exclude=True)
    """LINEDESK_LOG_FORMAT."""

    @model_validator(mode="after")
    def _finish(self, info: ValidationInfo) -> Self:
        self.base_dir = Path(os.path.abspath(self.base_dir.expanduser()))
        folder = self.processes.dir.expanduser()
        if not folder.is_absolute():
            folder = self.base_dir / folder
        self.processes = self.processes.model_copy(update={"dir": Path(os.path.normpath(folder))})
        if not (info.context or {}).get(SKIP_RULES):
            problems = check_rules(
                self.server, self.slack, list(enumerate(self.lines)), list(enumerate(self.operators))
            ) + check_replies(list(enumerate(self.replies)), {line.id for line in self.lines})
            if problems:
                raise ValueError("; ".join(f"{format_key(path)}: {message}" for path, message in problems))
        return self

    # --- lookups ------------------------------------------------------------------
    @cached_property
    def line_index(self) -> LineIndex:
        """`line`'s dict (a cached property lives in the instance's `__dict__`: a private attribute would go
        through pydantic's `__getattr__` on every look, slower than the search it saves)."""
        return LineIndex()

    def line(self, line_id: str) -> LineConfig | None:
        """Looked up several times per relayed message: by a dict, rebuilt when `lines` is another list."""
        return self.line_index.get(self.lines, line_id)

    def operator(self, operator_id: str) -> OperatorConfig | None:
        return next((op for op in self.operators if op.id == operator_id), None)

    def reply(self, reply_id: str) -> ReplyConfig | None:
        return next((reply for reply in self.replies if reply.id == reply_id), None)

    def operator_by_slack(self, user_id: str) -> OperatorConfig | None:
        if not user_id:
            return None
        return next((op for op in self.operators if op.slack_user == user_id), None)

    def operator_by_telegram(self, user_id: int) -> OperatorConfig | None:
        return next((op for op in self.operators if op.telegram_user == user_id), None)

    def slack_dm_line(self) -> LineConfig | None:
        return next((line for line in self.lines if line.slack_dm), None)

    def store_url_resolved(self) -> str:
        """The store URL with a relative SQLite path made absolute against the config's folder."""
        url = self.store.url
        prefix = "sqlite:///"
        if not url.startswith(prefix) or url.startswith(prefix + "/"):
            return url
        rest = url[len(prefix) :]
        file_part, sep, query = rest.partition("?")
        if file_part == ":memory:":
            return url
        absolute = os.path.normpath(self.base_dir / Path(file_part).expanduser())
        return f"{prefix}{absolute}{sep}{query}"
