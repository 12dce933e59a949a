"""What the `check-config` tests share: the example config's environment, and a working folder with the example
config and the shipped processes in it (the folder a user runs `linedesk check-config` from)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = {
    "SUPPORT_BOT_TOKEN": "1:x",
    "SUPPORT_BOT_SECRET": "s3cret",
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "sig",
    "SALES_BOT_TOKEN": "2:y",
    "SALES_BOT_SECRET": "s4cret",
}
"""The secrets `linedesk.example.toml` reads from the environment."""


def example_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path` with the example config and the shipped processes, the environment set, as the current folder."""
    shutil.copy(ROOT / "linedesk.example.toml", tmp_path / "linedesk.toml")
    shutil.copytree(ROOT / "processes", tmp_path / "processes")
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path
