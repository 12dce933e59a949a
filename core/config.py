"""linedesk configuration: the TOML file of SPEC §4 and the environment of SPEC §3.

`load_config()` reads the file, the `.env` next to it and the process environment,
replaces `${NAME}` placeholders, applies the environment overrides and validates
everything. Every problem found (pydantic's and the config rules') is collected into
one `ConfigError`, each with the file, a best-effort line number and the dotted key,
so that `linedesk check-config` can print them all at once.

Secrets (bot tokens, signing secrets, the admin token) are plain `str` attributes for
the code that needs them, but are left out of `repr()`/`str()` and `model_dump()`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = (
    "DEFAULT_CONFIG_PATH",
    "ENV_ADMIN_TOKEN",
    "ENV_CONFIG",
    "ENV_LOG_FORMAT",
    "AutostartEvent",
    "AutostartRuleConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "LineConfig",
    "OperatorConfig",
    "ProcessesConfig",
    "ServerConfig",
    "SlackConfig",
    "StoreConfig",
    "TelegramConfig",
    "check_rules",
    "format_key",
    "load_config",
    "load_config_text",
    "parse_duration",
    "redact_url",
    "resolve_config_path",
)

DEFAULT_CONFIG_PATH = "linedesk.toml"

KeyPath = tuple[str | int, ...]
"""A key inside the config, e.g. ("lines", 0, "telegram_token") for `lines[0].telegram_token`."""

AutostartEvent = Literal["session.created", "message.received", "session.closed"]

_ID_RE = re.compile(r"^[a-z0-9_-]+$")
_ID_MAX_LENGTH = 64
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_DURATION_FULL_RE = re.compile(r"(?:\d+(?:\.\d+)?\s*[dhms]\s*)+")
_DURATION_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
_DURATION_HINT = "use a number of seconds or a string like '30s', '10m', '4h', '2d', '1h30m'"
_STORE_SCHEMES = ("sqlite:///", "redis://", "rediss://")

# Environment variables that override a key of the file (SPEC §3), in that order.
_ENV_OVERRIDES: tuple[tuple[str, str, str], ...] = (
    ("LINEDESK_STORE_URL", "store", "url"),
    ("TELEGRAM_API_URL", "telegram", "api_url"),
    ("SLACK_API_URL", "slack", "api_url"),
)
ENV_CONFIG = "LINEDESK_CONFIG"
ENV_ADMIN_TOKEN = "LINEDESK_ADMIN_TOKEN"
ENV_LOG_FORMAT = "LINEDESK_LOG_FORMAT"

# Fields of `Config` that come from outside the TOML file: the file may not set them.
_NOT_FROM_FILE = frozenset({"config_path", "base_dir", "admin_token", "log_format"})
# Validation context flag: `load_config_text` runs the rules itself, per item, to report all problems.
_SKIP_RULES = "linedesk_skip_rules"


# --------------------------------------------------------------------------- helpers


def _parse_duration_text(value: str) -> float:
    text = value.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    if not text or not _DURATION_FULL_RE.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    order = [unit for unit, _ in _DURATION_UNITS]
    factors = dict(_DURATION_UNITS)
    seconds = 0.0
    last = -1
    for number, unit in _DURATION_PART_RE.findall(text):
        position = order.index(unit)
        if position <= last:
            raise ValueError(f"invalid duration {value!r}: units must appear once, in the order d, h, m, s")
        last = position
        seconds += float(number) * factors[unit]
    return seconds


def parse_duration(value: object) -> float:
    """Seconds from a duration: a bare number (seconds) or a string like "30s", "10m", "4h", "2d", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: must be greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _reject_bool(value: object) -> object:
    # pydantic's lax mode would read `true` as 1: a chat or user id never is a boolean.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]


def format_key(path: Sequence[str | int]) -> str:
    """("lines", 1, "telegram_desk_chat") -> "lines[1].telegram_desk_chat"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by "***", for logs and repr."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _check_http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")


def _check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError("must be made of lowercase letters, digits, '_' and '-' only")
    if len(value) > _ID_MAX_LENGTH:
        raise ValueError(f"must be at most {_ID_MAX_LENGTH} characters")
    return value


# --------------------------------------------------------------------------- models


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
        _check_http_url(value)
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
        _check_http_url(value)
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
        _check_http_url(value)
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

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value)

    @field_validator("telegram_token", "slack_desk_channel")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

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

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return _check_id(value)

    @field_validator("slack_user")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def serves(self, line_id: str) -> bool:
        return "*" in self.lines or line_id in self.lines


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

    # Not from the TOML file (a file setting them gets "unknown key"):
    config_path: Path | None = Field(default=None, exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    """The config file's folder: relative paths in the config are relative to it."""
    admin_token: str = Field(default="", repr=False, exclude=True)
    """LINEDESK_ADMIN_TOKEN: bearer token of the admin HTTP API."""
    log_format: Literal["text", "json"] = Field(default="text", exclude=True)
    """LINEDESK_LOG_FORMAT."""

    @model_validator(mode="after")
    def _finish(self, info: ValidationInfo) -> Self:
        self.base_dir = Path(os.path.abspath(self.base_dir.expanduser()))
        folder = self.processes.dir.expanduser()
        if not folder.is_absolute():
            folder = self.base_dir / folder
        self.processes = self.processes.model_copy(update={"dir": Path(os.path.normpath(folder))})
        if not (info.context or {}).get(_SKIP_RULES):
            problems = check_rules(
                self.server, self.slack, list(enumerate(self.lines)), list(enumerate(self.operators))
            )
            if problems:
                raise ValueError("; ".join(f"{format_key(path)}: {message}" for path, message in problems))
        return self

    # --- lookups ------------------------------------------------------------------
    def line(self, line_id: str) -> LineConfig | None:
        return next((line for line in self.lines if line.id == line_id), None)

    def operator(self, operator_id: str) -> OperatorConfig | None:
        return next((op for op in self.operators if op.id == operator_id), None)

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


# --------------------------------------------------------------------------- rules


def check_rules(
    server: ServerConfig | None,
    slack: SlackConfig | None,
    lines: Sequence[tuple[int, LineConfig]],
    operators: Sequence[tuple[int, OperatorConfig]],
    known_line_ids: Sequence[str] | None = None,
    check_operator_lines: bool = True,
) -> list[tuple[KeyPath, str]]:
    """The cross-field rules of SPEC §4, as (key, message) pairs.

    Works on items validated one by one (index, model) so that a broken item elsewhere
    does not hide these problems. `known_line_ids` (default: the ids of `lines`) is what
    operators' `lines` are checked against. A section passed as None (it failed validation)
    is skipped.
    """
    out: list[tuple[KeyPath, str]] = []
    line_index: dict[str, int] = {}
    token_index: dict[str, int] = {}
    dm_index: int | None = None
    slack_needed_by: list[str] = []
    for i, line in lines:
        base: KeyPath = ("lines", i)
        if line.id in line_index:
            out.append(((*base, "id"), f"duplicate line id {line.id!r} (also lines[{line_index[line.id]}])"))
        else:
            line_index[line.id] = i
        if not line.telegram_token and not line.slack_dm:
            out.append((base, f"line {line.id!r} has no client channel: set telegram_token or slack_dm = true"))
        if line.slack_dm:
            if dm_index is None:
                dm_index = i
            else:
                out.append(
                    (
                        (*base, "slack_dm"),
                        f"only one line may set slack_dm = true (lines[{dm_index}] already does)",
                    )
                )
            slack_needed_by.append(f"{format_key((*base, 'slack_dm'))} = true")
        if line.slack_desk_channel:
            slack_needed_by.append(f"{format_key((*base, 'slack_desk_channel'))} is set")
        if line.telegram_token:
            if line.telegram_token in token_index:
                out.append(
                    (
                        (*base, "telegram_token"),
                        f"the same bot token is already used by lines[{token_index[line.telegram_token]}]; "
                        "each line needs its own bot",
                    )
                )
            else:
                token_index[line.telegram_token] = i
            if server is not None and server.public_url and not line.telegram_webhook_secret:
                out.append(
                    (
                        (*base, "telegram_webhook_secret"),
                        "required when server.public_url is set (Telegram webhook mode) and the line has "
                        "a telegram_token",
                    )
                )
        elif line.telegram_desk_chat is not None:
            out.append(
                (
                    (*base, "telegram_desk_chat"),
                    "a Telegram desk is served by the line's bot: set telegram_token too",
                )
            )
        events: dict[str, int] = {}
        for j, rule in enumerate(line.autostart):
            if rule.event in events:
                out.append(
                    (
                        (*base, "autostart", j, "event"),
                        f"duplicate auto-start event {rule.event!r} (also autostart[{events[rule.event]}]): "
                        "one process per line and event",
                    )
                )
            else:
                events[rule.event] = j
    if slack is not None and slack_needed_by:
        for attr in ("bot_token", "signing_secret"):
            if not getattr(slack, attr):
                out.append((("slack", attr), f"required because {slack_needed_by[0]}"))

    known = set(line_index) if known_line_ids is None else set(known_line_ids)
    operator_index: dict[str, int] = {}
    slack_users: dict[str, int] = {}
    telegram_users: dict[int, int] = {}
    for i, op in operators:
        base = ("operators", i)
        if op.id in operator_index:
            out.append(((*base, "id"), f"duplicate operator id {op.id!r} (also operators[{operator_index[op.id]}])"))
        else:
            operator_index[op.id] = i
        for j, name in enumerate(op.lines):
            if check_operator_lines and name != "*" and name not in known:
                out.append(((*base, "lines", j), f"unknown line {name!r}"))
        if op.slack_user:
            if op.slack_user in slack_users:
                out.append(
                    (
                        (*base, "slack_user"),
                        f"Slack user {op.slack_user!r} is already operators[{slack_users[op.slack_user]}]",
                    )
                )
            else:
                slack_users[op.slack_user] = i
        if op.telegram_user is not None:
            if op.telegram_user in telegram_users:
                out.append(
                    (
                        (*base, "telegram_user"),
                        f"Telegram user {op.telegram_user} is already operators[{telegram_users[op.telegram_user]}]",
                    )
                )
            else:
                telegram_users[op.telegram_user] = i
    return out


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config is not usable; `problems` lists every reason found."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --------------------------------------------------------------------------- line numbers


_TOML_NAME_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_TOML_DOTTED = rf"{_TOML_NAME_PART}(?:\s*\.\s*{_TOML_NAME_PART})*"
_AOT_HEADER_RE = re.compile(rf"^\s*\[\[\s*({_TOML_DOTTED})\s*\]\]")
_TABLE_HEADER_RE = re.compile(rf"^\s*\[\s*({_TOML_DOTTED})\s*\]")
_KEY_LINE_RE = re.compile(rf"^\s*({_TOML_DOTTED})\s*=")
_NAME_PART_RE = re.compile(_TOML_NAME_PART)


def _name_parts(dotted: str) -> list[str]:
    return [part[1:-1] if part[0] in "\"'" else part for part in _NAME_PART_RE.findall(dotted)]


class _KeyLocator:
    """Best-effort map from key paths to line numbers of a TOML text.

    Follows table headers and arrays of tables (`[[lines]]`, `[[lines.autostart]]`),
    so `("lines", 1, "id")` finds the `id` key under the second `[[lines]]`. Keys
    inside inline tables/arrays fall back to the line of the enclosing key.
    """

    def __init__(self, text: str) -> None:
        self._index: dict[KeyPath, int] = {}
        aot_counts: dict[KeyPath, int] = {}
        current: KeyPath = ()
        in_string: str | None = None
        for number, raw in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if raw.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if match := _AOT_HEADER_RE.match(raw):
                parts = _name_parts(match.group(1))
                parent = self._resolve(parts[:-1], aot_counts)
                table = (*parent, parts[-1])
                index = aot_counts.get(table, 0)
                aot_counts[table] = index + 1
                current = (*table, index)
                self._index.setdefault(current, number)
            elif match := _TABLE_HEADER_RE.match(raw):
                current = self._resolve(_name_parts(match.group(1)), aot_counts)
                self._index.setdefault(current, number)
            elif match := _KEY_LINE_RE.match(raw):
                self._index.setdefault((*current, *_name_parts(match.group(1))), number)
                for delimiter in ('"""', "'''"):
                    if raw.count(delimiter) % 2 == 1:
                        in_string = delimiter
                        break

    @staticmethod
    def _resolve(parts: Sequence[str], aot_counts: Mapping[KeyPath, int]) -> KeyPath:
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in aot_counts:
                path = (*path, aot_counts[path] - 1)
        return path

    def line_of(self, path: KeyPath) -> int | None:
        while path:
            if path in self._index:
                return self._index[path]
            path = path[:-1]
        return None


# --------------------------------------------------------------------------- loading


def resolve_config_path(cli_value: str | None, environ: Mapping[str, str] | None = None) -> Path:
    """--config if given, else $LINEDESK_CONFIG, else "linedesk.toml" (relative to the working folder)."""
    env = os.environ if environ is None else environ
    value = cli_value or env.get(ENV_CONFIG) or DEFAULT_CONFIG_PATH
    return Path(value).expanduser()


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config file; raises ConfigError listing every problem.

    The `.env` next to the file is read; `environ` (default: the process environment)
    wins over it. Nothing is written to os.environ.
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, None, "", "config file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(source, None, "", "is a folder, not a config file")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"cannot read config file: {exc.strerror}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"not UTF-8 text ({exc.reason})")]) from None
    base_dir = Path(os.path.abspath(path.parent))
    merged: dict[str, str] = {}
    dotenv_path = base_dir / ".env"
    if dotenv_path.is_file():
        # No interpolation: python-dotenv would look names up in os.environ, not in `environ`.
        values = dotenv_values(dotenv_path, interpolate=False)
        merged.update({key: value for key, value in values.items() if value is not None})
    merged.update(os.environ if environ is None else environ)
    return _load(text, base_dir=base_dir, environ=merged, source=source, config_path=base_dir / path.name)


def load_config_text(
    text: str,
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: str = "<string>",
) -> Config:
    """Load a config from TOML text (no `.env` is read: `environ` is used as given, default os.environ)."""
    return _load(text, base_dir=Path(base_dir), environ=os.environ if environ is None else environ, source=source)


def _substitute(value: Any, environ: Mapping[str, str], path: KeyPath, missing: list[tuple[KeyPath, str]]) -> Any:
    """Replace ${NAME} in every string (recursively); unknown names are kept and reported."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in environ:
                return environ[name]
            missing.append((path, name))
            return match.group(0)

        return _VAR_RE.sub(replace, value)
    if isinstance(value, dict):
        return {key: _substitute(item, environ, (*path, key), missing) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, environ, (*path, i), missing) for i, item in enumerate(value)]
    return value


def _pydantic_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _validate_item(model: type[BaseModel], raw: Any) -> Any:
    """The model for `raw`, leniently, for the rules; None when it cannot be had.

    Keys that fail validation are dropped (their defaults used) and unknown keys ignored,
    so that one bad value does not hide the rule problems of the rest of the item. Those
    errors are reported by the full validation already.
    """
    if not isinstance(raw, dict):
        return None
    data = dict(raw)
    while True:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
            fields = model.model_fields
            if not bad or any(key in fields and fields[key].is_required() for key in bad):
                return None
            for key in bad:
                data.pop(key, None)


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    text = str(exc)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", text)
    if match:
        message = f"TOML syntax error: {text[: match.start()]} (column {match.group(2)})"
        return ConfigProblem(source, int(match.group(1)), "", message)
    text = re.sub(r"\s*\(at end of document\)\s*$", " at the end of the file", text)
    return ConfigProblem(source, None, "", f"TOML syntax error: {text}")


def _load(
    text: str,
    *,
    base_dir: Path,
    environ: Mapping[str, str],
    source: str,
    config_path: Path | None = None,
) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(source, exc)]) from None
    locator = _KeyLocator(text)
    found: list[tuple[KeyPath, str]] = []

    for key in sorted(_NOT_FROM_FILE & raw.keys()):
        found.append(((key,), "unknown key"))
        del raw[key]

    missing: list[tuple[KeyPath, str]] = []
    data: dict[str, Any] = _substitute(raw, environ, (), missing)
    unresolved = [path for path, _ in missing]

    env_source: dict[KeyPath, str] = {}
    for name, section, key in _ENV_OVERRIDES:
        value = environ.get(name, "")
        if not value:  # empty means unset, so a copied .env.example does not blank the file's values
            continue
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
            env_source[(section, key)] = name
    data["admin_token"] = environ.get(ENV_ADMIN_TOKEN, "")
    log_format = environ.get(ENV_LOG_FORMAT, "").strip().lower()
    if log_format:
        data["log_format"] = log_format
        env_source[("log_format",)] = ENV_LOG_FORMAT
    data["base_dir"] = base_dir
    data["config_path"] = config_path

    config: Config | None = None
    try:
        config = Config.model_validate(data, context={_SKIP_RULES: True})
    except ValidationError as exc:
        for error in exc.errors():
            found.append((tuple(error["loc"]), _pydantic_message(error)))

    raw_lines = data.get("lines")
    raw_operators = data.get("operators")
    lines: list[tuple[int, LineConfig]] = []
    for i, item in enumerate(raw_lines if isinstance(raw_lines, list) else []):
        if (line := _validate_item(LineConfig, item)) is not None:
            lines.append((i, line))
    operators: list[tuple[int, OperatorConfig]] = []
    for i, item in enumerate(raw_operators if isinstance(raw_operators, list) else []):
        if (operator := _validate_item(OperatorConfig, item)) is not None:
            operators.append((i, operator))
    # Ids of lines broken elsewhere still count, so operators naming them are not flagged too.
    known_ids = [
        item["id"]
        for item in (raw_lines if isinstance(raw_lines, list) else [])
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]
    rules = check_rules(
        _validate_item(ServerConfig, data.get("server", {})),
        _validate_item(SlackConfig, data.get("slack", {})),
        lines,
        operators,
        known_ids,
        check_operator_lines=raw_lines is None or isinstance(raw_lines, list),
    )
    # A key with a validation error already is not reported again by a rule (e.g. a malformed secret).
    invalid = [path for path, _ in found]
    found.extend(rule for rule in rules if not any(rule[0][: len(bad)] == bad for bad in invalid))

    problems: list[ConfigProblem] = []
    for path, name in missing:
        problems.append(
            ConfigProblem(source, locator.line_of(path), format_key(path), f"environment variable {name} is not set")
        )
    for path, message in found:
        # A key whose ${NAME} could not be replaced is reported once, not again for its placeholder value.
        if any(path[: len(bad)] == bad for bad in unresolved):
            continue
        if path in env_source:
            problems.append(
                ConfigProblem(
                    source,
                    None,
                    format_key(path),
                    f"{message} (from environment variable {env_source[path]})",
                )
            )
        else:
            problems.append(ConfigProblem(source, locator.line_of(path), format_key(path), message))
    problems = list(dict.fromkeys(problems))
    if problems:
        problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
        raise ConfigError(problems)
    assert config is not None
    return config
