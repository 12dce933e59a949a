"""Loading the config: the file, the environment, validation, and every problem collected at once.

Every problem found (pydantic's and the config rules') is collected into one `ConfigError`,
each with the file, a best-effort line number and the dotted key, so that
`linedesk check-config` can print them all at once.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from core.config.environment import ENV_CONFIG, apply_environment, substitute, with_dotenv
from core.config.errors import ConfigError, ConfigProblem, KeyPath, format_key
from core.config.locate import KeyLocator, syntax_problem
from core.config.replies import ReplyConfig, check_replies
from core.config.rules import check_rules
from core.config.schema import (
    NOT_FROM_FILE,
    SKIP_RULES,
    Config,
    LineConfig,
    OperatorConfig,
    ServerConfig,
    SlackConfig,
)

DEFAULT_CONFIG_PATH = "linedesk.toml"

Found = list[tuple[KeyPath, str]]


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
    text = _read_text(path, source)
    base_dir = Path(os.path.abspath(path.parent))
    merged = with_dotenv(base_dir, os.environ if environ is None else environ)
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


def _read_text(path: Path, source: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(source, None, "", "config file not found")]) from None
    except IsADirectoryError:
        raise ConfigError([ConfigProblem(source, None, "", "is a folder, not a config file")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"cannot read config file: {exc.strerror}")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(source, None, "", f"not UTF-8 text ({exc.reason})")]) from None


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
        raise ConfigError([syntax_problem(source, exc)]) from None
    found: Found = []
    for key in sorted(NOT_FROM_FILE & raw.keys()):
        found.append(((key,), "unknown key"))
        del raw[key]

    missing: list[tuple[KeyPath, str]] = []
    data: dict[str, Any] = substitute(raw, environ, (), missing)
    env_source = apply_environment(data, environ)
    data["base_dir"] = base_dir
    data["config_path"] = config_path

    config: Config | None = None
    try:
        config = Config.model_validate(data, context={SKIP_RULES: True})
    except ValidationError as exc:
        found.extend((tuple(error["loc"]), _pydantic_message(error)) for error in exc.errors())
    # A key with a validation error already is not reported again by a rule (e.g. a malformed secret).
    invalid = [path for path, _ in found]
    found.extend(rule for rule in _rule_problems(data) if not any(rule[0][: len(bad)] == bad for bad in invalid))

    problems = _problems(source, KeyLocator(text), missing, found, env_source)
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return config


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


def _rule_problems(data: Mapping[str, Any]) -> Found:
    """The config rules over the items that validate one by one, so a broken item hides no other's problems."""
    raw_lines = data.get("lines")
    raw_operators = data.get("operators")
    line_items = raw_lines if isinstance(raw_lines, list) else []
    lines: list[tuple[int, LineConfig]] = []
    for i, item in enumerate(line_items):
        if (line := _validate_item(LineConfig, item)) is not None:
            lines.append((i, line))
    operators: list[tuple[int, OperatorConfig]] = []
    for i, item in enumerate(raw_operators if isinstance(raw_operators, list) else []):
        if (operator := _validate_item(OperatorConfig, item)) is not None:
            operators.append((i, operator))
    # Ids of lines broken elsewhere still count, so operators naming them are not flagged too.
    known_ids = [item["id"] for item in line_items if isinstance(item, dict) and isinstance(item.get("id"), str)]
    raw_replies = data.get("replies")
    replies = [
        (i, reply)
        for i, item in enumerate(raw_replies if isinstance(raw_replies, list) else [])
        if (reply := _validate_item(ReplyConfig, item)) is not None
    ]
    lines_known = raw_lines is None or isinstance(raw_lines, list)
    return check_rules(
        _validate_item(ServerConfig, data.get("server", {})),
        _validate_item(SlackConfig, data.get("slack", {})),
        lines,
        operators,
        known_ids,
        check_operator_lines=lines_known,
    ) + check_replies(replies, set(known_ids) if lines_known else None)


def _problems(
    source: str,
    locator: KeyLocator,
    missing: Found,
    found: Found,
    env_source: Mapping[KeyPath, str],
) -> list[ConfigProblem]:
    """The problems to report, sorted by line: unset variables first, then validation and rule problems."""
    unresolved = [path for path, _ in missing]
    problems = [
        ConfigProblem(source, locator.line_of(path), format_key(path), f"environment variable {name} is not set")
        for path, name in missing
    ]
    for path, message in found:
        # A key whose ${NAME} could not be replaced is reported once, not again for its placeholder value.
        if any(path[: len(bad)] == bad for bad in unresolved):
            continue
        if path in env_source:
            where = f"{message} (from environment variable {env_source[path]})"
            problems.append(ConfigProblem(source, None, format_key(path), where))
        else:
            problems.append(ConfigProblem(source, locator.line_of(path), format_key(path), message))
    problems = list(dict.fromkeys(problems))
    problems.sort(key=lambda problem: (problem.line is None, problem.line or 0))
    return problems
