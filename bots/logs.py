"""Logging for `linedesk serve`: text or JSON lines (`LINEDESK_LOG_FORMAT`), each naming the session and
process instance it is about (`core.log_context`), with every secret of the config masked — whatever
library wrote the line and wherever the secret sits in it (a URL, an exception, a repr)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import urlsplit

from core.config import Config
from core.log_context import ContextFilter

MASK = "***"
SPIFF_LOGGER = "spiff"  # the parent of every logger SpiffWorkflow writes to


def secrets_of(config: Config) -> list[str]:
    """Every secret value in the config, longest first (so that one containing another is masked whole)."""
    values = [config.admin_token, config.slack.bot_token, config.slack.signing_secret, config.slack.app_token]
    for line in config.lines:
        values += [line.telegram_token, line.telegram_webhook_secret]
    password = urlsplit(config.store.url).password
    if password:
        values.append(password)
    return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None):
        super().__init__(fmt)
        self._secrets = list(secrets)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class TextFormatter(_Redacting):
    def __init__(self, secrets: Iterable[str]):
        super().__init__(secrets, "%(asctime)s %(levelname)s %(name)s%(about)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        session, instance = getattr(record, "session", None), getattr(record, "instance", None)
        about = [f"session={session}" if session is not None else "", f"instance={instance}" if instance else ""]
        record.about = f" [{' '.join(a for a in about if a)}]" if any(about) else ""
        return self.redact(super().format(record))


class JsonFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "session": getattr(record, "session", None),
            "instance": getattr(record, "instance", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # masked before JSON escaping: escaped, a secret with `"` or `\\` in it would no longer match
        masked = {
            key: value if value is None or isinstance(value, int | float) else self.redact(str(value))
            for key, value in line.items()
        }
        return json.dumps(masked, ensure_ascii=False)


SLACK_CLIENT_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.web.base_client")
"""The loggers slack_sdk's Web API clients test with `logger.level <= DEBUG` before each request."""


def setup_logging(config: Config, *, stream: TextIO | None = None, level: int = logging.INFO) -> logging.Handler:
    """One handler on the root logger, replacing any other (idempotent); returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    secrets = secrets_of(config)
    handler.setFormatter(JsonFormatter(secrets) if config.log_format == "json" else TextFormatter(secrets))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # one line per request or per Telegram update is noise at INFO (and aiogram's line costs ~3% of the CPU)
    for chatty in ("aiohttp.access", "aiogram.event"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # SpiffWorkflow logs every task state change at INFO ("spiff.task", "spiff.workflow", "spiff.data" …):
    # a busy deployment's log was mostly those; they are shown only when linedesk itself runs at DEBUG
    logging.getLogger(SPIFF_LOGGER).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)
    # slack_sdk formats its request and response debug lines (headers, the whole body) whenever its own logger's
    # `level` is at most DEBUG — NOTSET, by default — and only then lets logging drop them: a few percent of the
    # relay's CPU. Its level set, the lines are built only when linedesk runs at DEBUG.
    for client in SLACK_CLIENT_LOGGERS:
        logging.getLogger(client).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.INFO)
    return handler
