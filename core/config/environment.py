"""The environment of SPEC §3: the `.env` next to the config file, `${NAME}` placeholders and the overrides.

The real environment (or the mapping given instead of it) wins over `.env`, an empty value
included; an empty value then counts as unset for the overrides, so that a copied
`.env.example` does not blank the file's values. `LINEDESK_CONFIG` names the file and so
is read from the process environment only (`resolve_config_path`), never from `.env`.
Nothing here writes to os.environ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from core.config.errors import KeyPath

ENV_CONFIG = "LINEDESK_CONFIG"
ENV_ADMIN_TOKEN = "LINEDESK_ADMIN_TOKEN"
ENV_WORKER_TOKEN = "LINEDESK_WORKER_TOKEN"
ENV_LOG_FORMAT = "LINEDESK_LOG_FORMAT"

# Environment variables that override a key of the file (SPEC §3), in that order.
ENV_OVERRIDES: tuple[tuple[str, str, str], ...] = (
    ("LINEDESK_STORE_URL", "store", "url"),
    ("TELEGRAM_API_URL", "telegram", "api_url"),
    ("SLACK_API_URL", "slack", "api_url"),
)

_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def with_dotenv(folder: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """`folder`/.env's variables (if the file exists), overridden by every variable of `environ`."""
    merged: dict[str, str] = {}
    dotenv_path = folder / ".env"
    if dotenv_path.is_file():
        # No interpolation: python-dotenv would look names up in os.environ, not in `environ`.
        values = dotenv_values(dotenv_path, interpolate=False)
        merged.update({key: value for key, value in values.items() if value is not None})
    merged.update(environ)
    return merged


def substitute(value: Any, environ: Mapping[str, str], path: KeyPath, missing: list[tuple[KeyPath, str]]) -> Any:
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
        return {key: substitute(item, environ, (*path, key), missing) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, environ, (*path, i), missing) for i, item in enumerate(value)]
    return value


def apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[KeyPath, str]:
    """Put the environment's overrides and settings into the file's `data`.

    Returns which key came from which variable, so that a bad value names the variable.
    """
    env_source: dict[KeyPath, str] = {}
    for name, section, key in ENV_OVERRIDES:
        value = environ.get(name, "")
        if not value:  # empty means unset, so a copied .env.example does not blank the file's values
            continue
        table = data.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
            env_source[(section, key)] = name
    data["admin_token"] = environ.get(ENV_ADMIN_TOKEN, "")
    data["worker_token"] = environ.get(ENV_WORKER_TOKEN, "")
    log_format = environ.get(ENV_LOG_FORMAT, "").strip().lower()
    if log_format:
        data["log_format"] = log_format
        env_source[("log_format",)] = ENV_LOG_FORMAT
    return env_source
