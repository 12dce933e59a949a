"""Checks of single values shared by the config models: integers that are not booleans, ids, URLs."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import BeforeValidator

_ID_RE = re.compile(r"^[a-z0-9_-]+$")
_ID_MAX_LENGTH = 64


def _reject_bool(value: object) -> object:
    # pydantic's lax mode would read `true` as 1: a chat or user id never is a boolean.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]


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


def check_http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")


def check_id(value: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise ValueError("must be made of lowercase letters, digits, '_' and '-' only")
    if len(value) > _ID_MAX_LENGTH:
        raise ValueError(f"must be at most {_ID_MAX_LENGTH} characters")
    return value
