"""`linedesk init`: a starter folder that check-config explains and accepts once the values are filled in."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from bots.cli import main
from bots.init import TO_FILL, package_processes_dir
from core.config import load_config

FILLED = {
    "SUPPORT_BOT_TOKEN": "123456:AAH-test-token",
    "SUPPORT_DESK_CHAT": "-1001234567890",
    "OPERATOR_TELEGRAM_USER": "111111",
}
# Variables a developer's shell (or another test) might have set: the starter folder must not depend on them.
OUTSIDE = (
    *TO_FILL,
    "SUPPORT_BOT_SECRET",
    "LINEDESK_ADMIN_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "LINEDESK_STORE_URL",
    "TELEGRAM_API_URL",
    "SLACK_API_URL",
    "LINEDESK_CONFIG",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OUTSIDE:
        monkeypatch.delenv(name, raising=False)


def fill(env_file: Path, values: dict[str, str]) -> None:
    """What the user does: uncomment each placeholder line and write the value."""
    text = env_file.read_text()
    for name, value in values.items():
        assert f"# {name}=\n" in text, name
        text = text.replace(f"# {name}=\n", f"{name}={value}\n")
    env_file.write_text(text)


def test_init_writes_config_env_and_the_example_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mydesk"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    assert (target / "linedesk.toml").is_file()
    env = target / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    examples = package_processes_dir()
    shipped = sorted(p.relative_to(examples) for p in examples.rglob("*.bpmn"))
    copied = sorted(p.relative_to(target / "processes") for p in (target / "processes").rglob("*.bpmn"))
    assert copied == shipped and len(copied) == 3
    for relative in shipped:
        assert (target / "processes" / relative).read_bytes() == (examples / relative).read_bytes()
    # the generated secrets are there, different each time, and nothing else is set
    values = dict(line.split("=", 1) for line in env.read_text().splitlines() if line and not line.startswith("#"))
    assert set(values) == {"SUPPORT_BOT_SECRET", "LINEDESK_ADMIN_TOKEN"}
    assert all(len(value) >= 32 for value in values.values())
    # next steps name what to fill in and how to go on
    for text in (
        "SUPPORT_BOT_TOKEN",
        "@BotFather",
        "Manage topics",
        "linedesk check-config",
        "linedesk serve",
        f"cd {target}",
        "Slack app setup",
    ):
        assert text in out, text


def test_check_config_names_only_the_values_to_fill_in_then_accepts_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path / "mydesk")]) == 0
    config = tmp_path / "mydesk" / "linedesk.toml"
    capsys.readouterr()
    assert main(["check-config", "--config", str(config)]) == 1
    problems = capsys.readouterr().err.strip().splitlines()
    assert len(problems) == len(TO_FILL), problems
    for name, problem in zip(TO_FILL, problems, strict=True):
        assert problem.startswith(f"{config}:") and problem.endswith(f"environment variable {name} is not set")

    fill(config.parent / ".env", FILLED)
    assert main(["check-config", "--config", str(config)]) == 0
    assert "OK: 1 line(s), 1 operator(s), 3 process(es)." in capsys.readouterr().out
    loaded = load_config(config)
    line = loaded.lines[0]
    assert loaded.server.public_url == ""  # long polling: no public address needed
    assert line.telegram_token == FILLED["SUPPORT_BOT_TOKEN"] and line.telegram_desk_chat == -1001234567890
    assert loaded.operators[0].telegram_user == 111111 and loaded.operators[0].admin
    assert loaded.store_url_resolved() == f"sqlite:///{config.parent / 'linedesk.db'}"
    assert loaded.processes.dir == config.parent / "processes"
    assert [(r.event, r.process, r.enabled) for r in line.autostart] == [("session.created", "create_lead", False)]


def test_the_commented_webhook_and_slack_options_work_when_turned_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path)]) == 0
    config = tmp_path / "linedesk.toml"
    fill(tmp_path / ".env", FILLED)
    text = config.read_text()
    text = text.replace('public_url = ""', 'public_url = "https://desk.example.com"', 1)
    for key in ("[slack]", "bot_token =", "signing_secret =", "slack_desk_channel =", "slack_user ="):
        assert f"# {key}" in text, key
        text = text.replace(f"# {key}", key, 1)
    config.write_text(text)
    capsys.readouterr()
    assert main(["check-config", "--config", str(config)]) == 1  # the Slack tokens are not in .env yet
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "SLACK_SIGNING_SECRET is not set" in err
    fill(tmp_path / ".env", {})
    with (tmp_path / ".env").open("a") as env:
        env.write("SLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=sig\n")
    assert main(["check-config", "--config", str(config)]) == 0, capsys.readouterr().err
    loaded = load_config(config)
    assert loaded.lines[0].telegram_webhook_secret  # generated, and valid for setWebhook
    assert loaded.lines[0].slack_desk_channel == "C0123456789"


def test_a_folder_that_is_not_empty_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "linedesk.toml").write_text("# mine\n")
    (tmp_path / "notes.txt").write_text("keep me\n")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err and "--force" in err
    assert (tmp_path / "linedesk.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linedesk.toml", "notes.txt"]

    assert main(["init", str(tmp_path), "--force"]) == 0
    out = capsys.readouterr().out
    assert "[[lines]]" in (tmp_path / "linedesk.toml").read_text()
    assert "(replaced)" in out and (tmp_path / "notes.txt").read_text() == "keep me\n"
    assert (tmp_path / "processes" / "handle_request.bpmn").is_file()


def test_force_keeps_the_env_private_when_it_replaces_it(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("OLD=1\n")
    env.chmod(0o644)
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and "OLD=1" not in env.read_text()


def test_a_file_in_the_way_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mydesk").write_text("not a folder")
    assert main(["init", str(tmp_path / "mydesk")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "processes").write_text("a file where the folder goes")
    assert main(["init", str(tmp_path / "other"), "--force"]) == 1
    assert "processes" in capsys.readouterr().err and not (tmp_path / "other" / "linedesk.toml").exists()


def test_init_without_a_folder_uses_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "linedesk.toml").is_file() and "cd " not in out
    fill(tmp_path / ".env", FILLED)
    assert main(["check-config"]) == 0  # the default config path is linedesk.toml in the current folder


def test_init_runs_as_a_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bots.cli", "init", "desk"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Next steps" in result.stdout and "cd desk && linedesk check-config" in result.stdout
    assert sorted(p.name for p in (tmp_path / "desk").iterdir()) == [".env", "linedesk.toml", "processes"]


async def test_the_starter_folder_serves_a_telegram_customer_by_long_polling(tmp_path: Path) -> None:
    from bots.app import Linedesk
    from sandboxes.limits import Limits
    from sandboxes.telegram import TelegramSandbox

    assert main(["init", str(tmp_path)]) == 0
    fill(tmp_path / ".env", FILLED)
    async with TelegramSandbox(limits=Limits.off()) as telegram:
        telegram.add_bot(FILLED["SUPPORT_BOT_TOKEN"], "support_test_bot", "Support")
        telegram.user(111111, "Me")
        telegram.forum_group(-1001234567890, "Desk", members=[111111])
        config = load_config(tmp_path / "linedesk.toml", environ={"TELEGRAM_API_URL": telegram.base_url})
        desk = Linedesk(config, outbox_poll=0.05)
        desk.web_app()  # what `linedesk serve` mounts
        await desk.start()
        try:
            customer = telegram.user(501, "Ivan")
            await telegram.deliver(
                FILLED["SUPPORT_BOT_TOKEN"], telegram.text_update(FILLED["SUPPORT_BOT_TOKEN"], customer, "Hello")
            )
            for _ in range(100):
                if (
                    telegram.topics(-1001234567890)
                    and len(telegram.chat_messages(FILLED["SUPPORT_BOT_TOKEN"], 501)) > 1
                ):
                    break
                await asyncio.sleep(0.05)
            assert [t["name"] for t in telegram.topics(-1001234567890)] == ["#1 Ivan"]
            texts = [m.get("text") for m in telegram.chat_messages(FILLED["SUPPORT_BOT_TOKEN"], 501)]
            assert texts == ["Hello", "Hello! An operator will answer shortly."]
            assert not telegram.calls_of("setWebhook")  # long polling
        finally:
            await desk.stop()


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_shows_what_check_config_says_about_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    capsys.readouterr()
    assert main(["check-config"]) == 1
    readme = README.read_text()
    for problem in capsys.readouterr().err.strip().splitlines():
        assert f"\n{problem}\n" in readme, problem


def test_the_configuration_reference_names_every_key() -> None:
    from core.config import (
        AutostartRuleConfig,
        DeliveryConfig,
        LineConfig,
        OperatorConfig,
        ProcessesConfig,
        ServerConfig,
        SlackConfig,
        StoreConfig,
        TelegramConfig,
    )

    readme = README.read_text()
    reference = readme[readme.index("## Configuration reference") : readme.index("## Commands and HTTP API")]
    tables: dict[str, type[BaseModel]] = {
        "[server]": ServerConfig,
        "[store]": StoreConfig,
        "[telegram]": TelegramConfig,
        "[slack]": SlackConfig,
        "[processes]": ProcessesConfig,
        "[delivery]": DeliveryConfig,
        "[[lines]]": LineConfig,
        "[[lines.autostart]]": AutostartRuleConfig,
        "[[operators]]": OperatorConfig,
    }
    for title, model in tables.items():
        start = reference.index(f"**`{title}`**")
        end = reference.find("\n**`", start + 1)
        section = reference[start : end if end > 0 else None]
        for key in model.model_fields:
            if key == "autostart":
                continue  # [[lines.autostart]] has its own table
            assert f"\n| `{key}` |" in section, f"{title} {key}"
