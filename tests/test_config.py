"""The configuration layer (SPEC §3 environment, §4 TOML file), on real files in tmp_path."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import tomllib
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from core.config import (
    Config,
    ConfigError,
    ConfigProblem,
    LineConfig,
    OperatorConfig,
    SlackConfig,
    load_config,
    load_config_text,
    parse_duration,
    resolve_config_path,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "linedesk.example.toml"
ENV_EXAMPLE = REPO / ".env.example"

# A valid config that rule cases below extend.
SLACK_OK = """
[slack]
bot_token = "xoxb-1"
signing_secret = "sig"
"""

SLACK = '[slack]\nbot_token = "xoxb-1"\nsigning_secret = "s"\n'
SUPPORT_LINE = """
[[lines]]
id = "support"
name = "Support"
telegram_token = "111:AAA"
"""


def write_config(folder: Path, text: str, name: str = "linedesk.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write_config(folder, text), environ={} if environ is None else environ)


def problems_of(folder: Path, text: str, environ: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as excinfo:
        load(folder, text, environ)
    return excinfo.value.problems


def keys_of(problems: list[ConfigProblem]) -> list[str]:
    return [problem.key for problem in problems]


# --------------------------------------------------------------------------- the example


def test_example_loads_with_its_env_example(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "linedesk.toml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")

    config = load_config(tmp_path / "linedesk.toml", environ={})

    env = dotenv_values(ENV_EXAMPLE)
    assert [line.id for line in config.lines] == ["support", "sales"]
    support, sales = config.lines
    assert support.telegram_token == env["SUPPORT_BOT_TOKEN"]
    assert support.telegram_webhook_secret == env["SUPPORT_BOT_SECRET"]
    assert support.slack_desk_channel == "C0DESK01"
    assert support.telegram_desk_chat == -1001234567890
    assert support.auto_close_after == 4 * 3600
    assert support.reopen_within == 600
    assert [(r.event, r.process, r.enabled) for r in support.autostart] == [("session.created", "create_lead", False)]
    assert sales.slack_dm is True
    assert config.slack_dm_line() is sales
    assert config.slack.bot_token == env["SLACK_BOT_TOKEN"]
    assert config.slack.signing_secret == env["SLACK_SIGNING_SECRET"]
    assert config.slack.app_token == ""
    assert [op.id for op in config.operators] == ["anna", "boris"]
    anna = config.operator("anna")
    assert anna is not None and anna.admin and anna.serves("support") and not anna.serves("sales")
    assert config.operator_by_slack("U0BORIS1") is config.operators[1]
    assert config.admin_token == env["LINEDESK_ADMIN_TOKEN"]
    assert config.log_format == "text"
    assert config.processes.dir == tmp_path / "processes"
    assert config.store_url_resolved() == f"sqlite:///{tmp_path}/linedesk.db"
    assert config.config_path == tmp_path / "linedesk.toml"
    assert config.base_dir == tmp_path


def _placeholders(value: object) -> list[str]:
    if isinstance(value, str):
        return re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value)
    if isinstance(value, dict):
        return [name for item in value.values() for name in _placeholders(item)]
    if isinstance(value, list):
        return [name for item in value for name in _placeholders(item)]
    return []


def test_env_example_lists_every_variable() -> None:
    names = set(dotenv_values(ENV_EXAMPLE))
    spec_vars = {
        "LINEDESK_CONFIG",
        "LINEDESK_STORE_URL",
        "TELEGRAM_API_URL",
        "SLACK_API_URL",
        "LINEDESK_ADMIN_TOKEN",
        "LINEDESK_LOG_FORMAT",
        "LINEDESK_TEST_REDIS_URL",
    }
    used = set(_placeholders(tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))))
    assert used == {"SUPPORT_BOT_TOKEN", "SUPPORT_BOT_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"}
    assert spec_vars | used <= names
    # Each variable has a comment line right above it.
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert lines[i - 1].startswith("#"), line


def test_example_without_environment_names_every_missing_variable(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "linedesk.toml")
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "linedesk.toml", environ={})
    messages = {(p.key, p.message) for p in excinfo.value.problems}
    assert messages == {
        ("slack.bot_token", "environment variable SLACK_BOT_TOKEN is not set"),
        ("slack.signing_secret", "environment variable SLACK_SIGNING_SECRET is not set"),
        ("lines[0].telegram_token", "environment variable SUPPORT_BOT_TOKEN is not set"),
        ("lines[0].telegram_webhook_secret", "environment variable SUPPORT_BOT_SECRET is not set"),
    }


def test_minimal_config_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, SUPPORT_LINE)
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.public_url == ""
    assert config.store.url == "sqlite:///linedesk.db"
    assert config.telegram.api_url == "https://api.telegram.org"
    assert config.slack.api_url == "https://slack.com/api/"
    assert config.processes.http_allow == []
    line = config.lines[0]
    assert line.greeting == "Hello! An operator will answer shortly."
    assert (line.auto_close_after, line.reopen_within) == (14400.0, 600.0)
    assert (line.slack_dm, line.auto_assign, line.telegram_desk_chat, line.autostart) == (
        False,
        False,
        None,
        [],
    )
    assert config.operators == []


# --------------------------------------------------------------------------- rules

RULE_CASES = [
    pytest.param(SUPPORT_LINE + "[serverx]\nport = 1\n", "serverx", "unknown key", id="unknown-section"),
    pytest.param("[server]\nprot = 1\n" + SUPPORT_LINE, "server.prot", "unknown key", id="unknown-key"),
    pytest.param(SUPPORT_LINE + 'colour = "red"\n', "lines[0].colour", "unknown key", id="unknown-line-key"),
    pytest.param(
        SUPPORT_LINE + '[[lines.autostart]]\nevent = "session.created"\nprocess = "p"\nwhen = 1\n',
        "lines[0].autostart[0].when",
        "unknown key",
        id="unknown-autostart-key",
    ),
    pytest.param('admin_token = "x"\n' + SUPPORT_LINE, "admin_token", "unknown key", id="admin-token-in-file"),
    pytest.param('base_dir = "/x"\n' + SUPPORT_LINE, "base_dir", "unknown key", id="base-dir-in-file"),
    pytest.param(
        SUPPORT_LINE + SUPPORT_LINE.replace("111:AAA", "222:BBB"),
        "lines[1].id",
        "duplicate line id",
        id="duplicate-line-id",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "anna"\nname = "A"\n[[operators]]\nid = "anna"\nname = "B"\n',
        "operators[1].id",
        "duplicate operator id",
        id="duplicate-operator-id",
    ),
    pytest.param('[[lines]]\nid = "x"\nname = "X"\n', "lines[0]", "no client channel", id="no-client-channel"),
    pytest.param(
        SLACK_OK
        + '[[lines]]\nid = "a"\nname = "A"\nslack_dm = true\n'
        + '[[lines]]\nid = "b"\nname = "B"\nslack_dm = true\n',
        "lines[1].slack_dm",
        "only one line may set slack_dm",
        id="two-slack-dm-lines",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "anna"\nname = "A"\nlines = ["support", "nope"]\n',
        "operators[0].lines[1]",
        "unknown line 'nope'",
        id="operator-unknown-line",
    ),
    pytest.param(
        SUPPORT_LINE + 'telegram_webhook_secret = "has spaces!"\n',
        "lines[0].telegram_webhook_secret",
        "1-256 characters",
        id="webhook-secret-charset",
    ),
    pytest.param(
        SUPPORT_LINE + f'telegram_webhook_secret = "{"a" * 257}"\n',
        "lines[0].telegram_webhook_secret",
        "1-256 characters",
        id="webhook-secret-too-long",
    ),
    pytest.param(
        '[server]\npublic_url = "https://desk.example.com"\n' + SUPPORT_LINE,
        "lines[0].telegram_webhook_secret",
        "required when server.public_url is set",
        id="webhook-without-secret",
    ),
    pytest.param(
        '[slack]\nsigning_secret = "s"\n' + SUPPORT_LINE + 'slack_desk_channel = "C1"\n',
        "slack.bot_token",
        "required because lines[0].slack_desk_channel is set",
        id="slack-desk-without-bot-token",
    ),
    pytest.param(
        '[slack]\nbot_token = "xoxb-1"\n' + SUPPORT_LINE + 'slack_desk_channel = "C1"\n',
        "slack.signing_secret",
        "required because lines[0].slack_desk_channel is set",
        id="slack-desk-without-signing-secret",
    ),
    pytest.param(
        '[[lines]]\nid = "a"\nname = "A"\nslack_dm = true\n',
        "slack.bot_token",
        "required because lines[0].slack_dm = true",
        id="slack-dm-without-bot-token",
    ),
    pytest.param(
        SUPPORT_LINE
        + '[[lines.autostart]]\nevent = "session.created"\nprocess = "a"\n'
        + '[[lines.autostart]]\nevent = "session.created"\nprocess = "b"\n',
        "lines[0].autostart[1].event",
        "duplicate auto-start event 'session.created'",
        id="duplicate-autostart-event",
    ),
    pytest.param(
        SUPPORT_LINE + '[[lines.autostart]]\nevent = "session.opened"\nprocess = "a"\n',
        "lines[0].autostart[0].event",
        "Input should be 'session.created', 'message.received', 'session.closed'",
        id="unknown-autostart-event",
    ),
    pytest.param(
        SUPPORT_LINE + '[[lines.autostart]]\nevent = "session.closed"\n',
        "lines[0].autostart[0].process",
        "required key is missing",
        id="autostart-without-process",
    ),
    pytest.param(
        '[[lines]]\nid = "Support Line"\nname = "S"\ntelegram_token = "t"\n',
        "lines[0].id",
        "lowercase letters",
        id="bad-line-id",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "Anna"\nname = "A"\n',
        "operators[0].id",
        "lowercase letters",
        id="bad-operator-id",
    ),
    pytest.param(
        '[[lines]]\nid = "x"\ntelegram_token = "t"\n',
        "lines[0].name",
        "required key is missing",
        id="line-without-name",
    ),
    pytest.param(
        "[server]\nport = 70000\n" + SUPPORT_LINE,
        "server.port",
        "less than or equal to 65535",
        id="port-range",
    ),
    pytest.param(
        '[server]\npublic_url = "desk.example.com"\n' + SUPPORT_LINE,
        "server.public_url",
        "http:// or https://",
        id="public-url-scheme",
    ),
    pytest.param(
        '[store]\nurl = "postgres://x"\n' + SUPPORT_LINE,
        "store.url",
        "sqlite:///, redis://",
        id="store-scheme",
    ),
    pytest.param(
        '[telegram]\napi_url = "ftp://x"\n' + SUPPORT_LINE,
        "telegram.api_url",
        "http:// or https://",
        id="telegram-api-url",
    ),
    pytest.param(
        SUPPORT_LINE + 'auto_close_after = "4 hours"\n',
        "lines[0].auto_close_after",
        "invalid duration '4 hours'",
        id="bad-duration",
    ),
    pytest.param(
        SUPPORT_LINE + "reopen_within = 0\n",
        "lines[0].reopen_within",
        "greater than zero",
        id="zero-duration",
    ),
    pytest.param(
        SUPPORT_LINE + 'telegram_desk_chat = "desk"\n',
        "lines[0].telegram_desk_chat",
        "valid integer",
        id="desk-chat-not-int",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "a"\nname = "A"\ntelegram_user = true\n',
        "operators[0].telegram_user",
        "not true/false",
        id="telegram-user-bool",
    ),
    pytest.param(
        '[[lines]]\nid = "a"\nname = "A"\nslack_dm = true\ntelegram_desk_chat = -100\n' + SLACK_OK,
        "lines[0].telegram_desk_chat",
        "set telegram_token too",
        id="telegram-desk-without-bot",
    ),
    pytest.param(
        SUPPORT_LINE + SUPPORT_LINE.replace('"support"', '"other"'),
        "lines[1].telegram_token",
        "same bot token is already used by lines[0]",
        id="same-bot-on-two-lines",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "a"\nname = "A"\nslack_user = "U1"\n'
        '[[operators]]\nid = "b"\nname = "B"\nslack_user = "U1"\n',
        "operators[1].slack_user",
        "already operators[0]",
        id="duplicate-slack-user",
    ),
    pytest.param(
        SUPPORT_LINE + '[[operators]]\nid = "a"\nname = "A"\ntelegram_user = 7\n'
        '[[operators]]\nid = "b"\nname = "B"\ntelegram_user = 7\n',
        "operators[1].telegram_user",
        "already operators[0]",
        id="duplicate-telegram-user",
    ),
    pytest.param(
        '[processes]\nhttp_allow = ["https://crm.example.com/api"]\n' + SUPPORT_LINE,
        "processes.http_allow",
        "host name",
        id="http-allow-url",
    ),
    pytest.param('lines = "support"\n', "lines", "valid list", id="lines-not-a-list"),
    pytest.param(
        SLACK + SUPPORT_LINE + 'slack_desk_channel = "C1"\nslack_desk_channels = ["C2", "C3"]\n',
        "lines[0].slack_desk_channels",
        "line 'support' sets both slack_desk_channel and slack_desk_channels",
        id="desk-channel-and-channels",
    ),
    pytest.param(
        SLACK + SUPPORT_LINE + "slack_desk_channels = []\n",
        "lines[0].slack_desk_channels",
        "line 'support': an empty list",
        id="desk-channels-empty",
    ),
    pytest.param(
        SLACK + SUPPORT_LINE + 'slack_desk_channels = ["C1", " "]\n',
        "lines[0].slack_desk_channels[1]",
        "an empty channel ID",
        id="desk-channels-blank",
    ),
    pytest.param(
        SLACK + SUPPORT_LINE + 'slack_desk_channels = ["C1", "C2", "C1"]\n',
        "lines[0].slack_desk_channels[2]",
        "channel 'C1' is already a Slack desk of this line",
        id="desk-channels-duplicate",
    ),
    pytest.param(
        SLACK
        + SUPPORT_LINE
        + 'slack_desk_channels = ["C1", "C2"]\n'
        + '[[lines]]\nid = "sales"\nname = "Sales"\ntelegram_token = "222:BBB"\nslack_desk_channel = "C2"\n',
        "lines[1].slack_desk_channel",
        "channel 'C2' is already a Slack desk of lines[0]",
        id="desk-channel-of-two-lines",
    ),
    pytest.param(
        '[slack]\nsigning_secret = "s"\n' + SUPPORT_LINE + 'slack_desk_channels = ["C1", "C2"]\n',
        "slack.bot_token",
        "required because lines[0].slack_desk_channels is set",
        id="slack-desk-channels-without-bot-token",
    ),
]


@pytest.mark.parametrize(("text", "key", "fragment"), RULE_CASES)
def test_rule_violation_is_a_problem_naming_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    problems = problems_of(tmp_path, text)
    matching = [p for p in problems if p.key == key]
    assert matching, f"no problem for {key}: {[str(p) for p in problems]}"
    assert any(fragment in p.message for p in matching), [str(p) for p in matching]
    assert all(p.file == str(tmp_path / "linedesk.toml") for p in problems)


def test_valid_variants_of_rule_cases_load(tmp_path: Path) -> None:
    # The counterparts of the rules: each of these is fine.
    config = load(
        tmp_path,
        '[server]\npublic_url = "https://desk.example.com/"\n'
        + SLACK_OK
        + SUPPORT_LINE
        + 'telegram_webhook_secret = "Abc_-123"\nslack_desk_channel = "C1"\ntelegram_desk_chat = -100\n'
        + '[[lines.autostart]]\nevent = "session.created"\nprocess = "a"\n'
        + '[[lines.autostart]]\nevent = "session.closed"\nprocess = "b"\nenabled = false\n'
        + '[[lines]]\nid = "sales"\nname = "Sales"\nslack_dm = true\n'
        + '[[operators]]\nid = "anna"\nname = "A"\nlines = ["support", "sales"]\n',
    )
    assert config.server.public_url == "https://desk.example.com"
    assert config.lines[0].autostart_rule("session.closed") == config.lines[0].autostart[1]
    assert config.lines[0].autostart_rule("message.received") is None
    assert config.operators[0].serves("sales")


def test_several_problems_reported_at_once_sorted_by_line(tmp_path: Path) -> None:
    text = """\
    [server]
    port = 0

    [[lines]]
    id = "support"
    name = "Support"
    telegram_token = "t"
    auto_close_after = "soon"

    [[lines]]
    id = "support"
    name = "Again"

    [[operators]]
    id = "anna"
    name = "Anna"
    lines = ["ghost"]
    """
    problems = problems_of(tmp_path, text)
    assert [(p.line, p.key) for p in problems] == [
        (2, "server.port"),
        (8, "lines[0].auto_close_after"),
        (10, "lines[1]"),
        (11, "lines[1].id"),
        (17, "operators[0].lines[0]"),
    ]
    assert "no client channel" in problems[2].message
    assert str(ConfigError(problems)).count("\n") == len(problems) - 1


def test_a_broken_value_does_not_hide_rules_of_the_same_item(tmp_path: Path) -> None:
    text = (
        '[server]\nport = "x"\npublic_url = "https://d.example.com"\n'
        + SUPPORT_LINE
        + 'auto_close_after = "never"\n'
        + '[[lines.autostart]]\nevent = "session.created"\nprocess = "a"\n'
        + '[[lines.autostart]]\nevent = "session.created"\nprocess = "b"\n'
    )
    keys = set(keys_of(problems_of(tmp_path, text)))
    assert keys == {
        "server.port",
        "lines[0].auto_close_after",
        "lines[0].telegram_webhook_secret",
        "lines[0].autostart[1].event",
    }


def test_malformed_secret_is_not_also_reported_as_missing(tmp_path: Path) -> None:
    text = '[server]\npublic_url = "https://d.example.com"\n' + SUPPORT_LINE + 'telegram_webhook_secret = "a b"\n'
    problems = problems_of(tmp_path, text)
    assert [p.key for p in problems] == ["lines[0].telegram_webhook_secret"]
    assert "1-256" in problems[0].message


# --------------------------------------------------------------------------- line numbers


def test_problem_str_has_file_line_key_message(tmp_path: Path) -> None:
    text = SUPPORT_LINE + '[[lines]]\nid = "Bad"\nname = "B"\ntelegram_token = "x"\n'
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].line == 7  # SUPPORT_LINE starts with a blank line: [[lines]] is line 6
    assert str(problems[0]) == (
        f"{tmp_path / 'linedesk.toml'}:7: lines[1].id: must be made of lowercase letters, digits, '_' and '-' only"
    )


def test_problem_str_without_line() -> None:
    problem = ConfigProblem("linedesk.toml", None, "store.url", "bad")
    assert str(problem) == "linedesk.toml: store.url: bad"
    assert str(ConfigProblem("linedesk.toml", 12, "lines[0].id", "x")) == "linedesk.toml:12: lines[0].id: x"


def test_line_numbers_follow_tables_and_arrays_of_tables(tmp_path: Path) -> None:
    text = """\
    # comment = 1
    [server]
    port = 8080

    [slack]
    app_token = ""

    [[lines]]
    id = "a"
    name = "A"
    telegram_token = "t1"
    greeting = \"\"\"
    id = "not a key"
    \"\"\"

      [[lines.autostart]]
      event = "session.created"
      process = "p"

      [[lines.autostart]]
      event = "session.created"
      process = "q"

    [[lines]]
    id = "b"
    name = "B"
    slack_desk_channel = "C1"
    telegram_token = "t2"
    reopen_within = "1y"
    """
    problems = problems_of(tmp_path, text)
    by_key = {p.key: p.line for p in problems}
    assert by_key == {
        "lines[0].autostart[1].event": 21,
        "lines[1].reopen_within": 29,
        # missing keys point at their table's header
        "slack.bot_token": 5,
        "slack.signing_secret": 5,
    }


def test_missing_key_with_no_table_has_no_line(tmp_path: Path) -> None:
    text = '[[lines]]\nid = "a"\nname = "A"\nslack_dm = true\n'
    problems = problems_of(tmp_path, text)
    assert {(p.key, p.line) for p in problems} == {("slack.bot_token", None), ("slack.signing_secret", None)}


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "[server]\nport = 8080\nhost = \n[store]\n")
    assert len(problems) == 1
    assert problems[0].line == 3
    assert problems[0].key == ""
    assert "TOML syntax error" in problems[0].message
    assert str(problems[0]).startswith(f"{tmp_path / 'linedesk.toml'}:3: TOML syntax error")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "nope.toml", environ={})
    [problem] = excinfo.value.problems
    assert problem.file == str(tmp_path / "nope.toml")
    assert "not found" in problem.message


# --------------------------------------------------------------------------- ${NAME}


def test_substitution_in_strings_lists_and_nested_tables(tmp_path: Path) -> None:
    text = """\
    [server]
    public_url = "https://${HOST}/desk/"
    [processes]
    http_allow = ["${CRM_HOST}", "static.example.com"]
    [[lines]]
    id = "support"
    name = "${LINE_NAME}"
    telegram_token = "${TOKEN}"
    telegram_webhook_secret = "${SECRET}"
    telegram_desk_chat = "${DESK}"
      [[lines.autostart]]
      event = "session.created"
      process = "${LEAD}"
    """
    env = {
        "HOST": "desk.example.com",
        "CRM_HOST": "CRM.example.com",
        "LINE_NAME": "Support $ desk",
        "TOKEN": "123:ABC",
        "SECRET": "s3cr3t",
        "DESK": "-1009",
        "LEAD": "create_lead",
    }
    config = load(tmp_path, text, env)
    assert config.server.public_url == "https://desk.example.com/desk"
    assert config.processes.http_allow == ["crm.example.com", "static.example.com"]
    line = config.lines[0]
    assert (line.name, line.telegram_token, line.telegram_webhook_secret) == (
        "Support $ desk",
        "123:ABC",
        "s3cr3t",
    )
    assert line.telegram_desk_chat == -1009
    assert line.autostart[0].process == "create_lead"


def test_substituted_value_is_not_expanded_again(tmp_path: Path) -> None:
    config = load(tmp_path, SUPPORT_LINE + 'greeting = "${G}"\n', {"G": "${TOKEN}"})
    assert config.lines[0].greeting == "${TOKEN}"


def test_missing_variable_names_key_and_variable(tmp_path: Path) -> None:
    text = """\
    [server]
    public_url = "https://desk.example.com"
    [[lines]]
    id = "support"
    name = "Support"
    telegram_token = "${SUPPORT_BOT_TOKEN}"
    telegram_webhook_secret = "${SUPPORT_BOT_SECRET}"
    [processes]
    http_allow = ["a.example.com", "${CRM}"]
    """
    problems = problems_of(tmp_path, text, {"SUPPORT_BOT_SECRET": "ok"})
    # Reported once each: no follow-up complaint about the placeholder value.
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'linedesk.toml'}:6: lines[0].telegram_token: environment variable SUPPORT_BOT_TOKEN is not set",
        f"{tmp_path / 'linedesk.toml'}:9: processes.http_allow[1]: environment variable CRM is not set",
    ]


def test_missing_variable_in_secret_is_reported_once(tmp_path: Path) -> None:
    text = '[server]\npublic_url = "https://d.example.com"\n' + SUPPORT_LINE + 'telegram_webhook_secret = "${S}"\n'
    problems = problems_of(tmp_path, text)
    assert [(p.key, p.message) for p in problems] == [
        ("lines[0].telegram_webhook_secret", "environment variable S is not set")
    ]


def test_empty_variable_counts_as_set(tmp_path: Path) -> None:
    config = load(tmp_path, SUPPORT_LINE + 'greeting = "${GREETING}"\n', {"GREETING": ""})
    assert config.lines[0].greeting == ""


# --------------------------------------------------------------------------- environment overrides


def test_environment_overrides_beat_the_file(tmp_path: Path) -> None:
    text = (
        '[store]\nurl = "sqlite:///file.db"\n[telegram]\napi_url = "https://file.example"\n'
        '[slack]\napi_url = "https://file.example/api/"\n' + SUPPORT_LINE
    )
    env = {
        "LINEDESK_STORE_URL": "redis://127.0.0.1:6379/3",
        "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
        "SLACK_API_URL": "http://127.0.0.1:8082/api",
        "LINEDESK_ADMIN_TOKEN": "admin-token-1",
        "LINEDESK_LOG_FORMAT": "json",
    }
    config = load(tmp_path, text, env)
    assert config.store.url == "redis://127.0.0.1:6379/3"
    assert config.store_url_resolved() == "redis://127.0.0.1:6379/3"
    assert config.telegram.api_url == "http://127.0.0.1:8081"
    assert config.slack.api_url == "http://127.0.0.1:8082/api/"
    assert config.admin_token == "admin-token-1"
    assert config.log_format == "json"


def test_without_overrides_the_file_wins(tmp_path: Path) -> None:
    text = '[store]\nurl = "sqlite:///file.db"\n' + SUPPORT_LINE
    config = load(tmp_path, text, {"LINEDESK_STORE_URL": "", "TELEGRAM_API_URL": ""})
    assert config.store.url == "sqlite:///file.db"
    assert config.telegram.api_url == "https://api.telegram.org"
    assert config.admin_token == ""
    assert config.log_format == "text"


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("LINEDESK_LOG_FORMAT", "xml", "log_format"),
        ("LINEDESK_STORE_URL", "mysql://db", "store.url"),
        ("TELEGRAM_API_URL", "localhost:8081", "telegram.api_url"),
        ("SLACK_API_URL", "slack", "slack.api_url"),
    ],
)
def test_bad_environment_value_names_the_variable(tmp_path: Path, variable: str, value: str, key: str) -> None:
    problems = problems_of(tmp_path, SUPPORT_LINE, {variable: value})
    assert [p.key for p in problems] == [key]
    assert problems[0].line is None
    assert f"environment variable {variable}" in problems[0].message


def test_dotenv_next_to_config_is_read_and_process_env_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / ".env").write_text(
        "# comment\nTOKEN=from-dotenv\nNAME=Dotenv name\nLINEDESK_STORE_URL=sqlite:///dotenv.db\n"
        "LINEDESK_ADMIN_TOKEN=dotenv-admin\nSECRET_ONLY_IN_DOTENV=1\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("NAME=wrong folder\n", encoding="utf-8")
    path = write_config(folder, '[[lines]]\nid = "a"\nname = "${NAME}"\ntelegram_token = "${TOKEN}"\n')
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)

    config = load_config(path, environ={"TOKEN": "from-process", "LINEDESK_ADMIN_TOKEN": "process-admin"})

    assert config.lines[0].telegram_token == "from-process"
    assert config.lines[0].name == "Dotenv name"
    assert config.store.url == "sqlite:///dotenv.db"
    assert config.store_url_resolved() == f"sqlite:///{folder}/dotenv.db"
    assert config.admin_token == "process-admin"
    assert dict(os.environ) == before
    assert "SECRET_ONLY_IN_DOTENV" not in os.environ


def test_load_config_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEDESK_TEST_CONFIG_TOKEN", "env-token")
    path = write_config(tmp_path, '[[lines]]\nid = "a"\nname = "A"\ntelegram_token = "${LINEDESK_TEST_CONFIG_TOKEN}"\n')
    assert load_config(path).lines[0].telegram_token == "env-token"


def test_resolve_config_path() -> None:
    assert resolve_config_path("custom.toml", {"LINEDESK_CONFIG": "env.toml"}) == Path("custom.toml")
    assert resolve_config_path(None, {"LINEDESK_CONFIG": "/etc/linedesk/env.toml"}) == Path("/etc/linedesk/env.toml")
    assert resolve_config_path(None, {}) == Path("linedesk.toml")
    assert resolve_config_path(None, {"LINEDESK_CONFIG": ""}) == Path("linedesk.toml")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("4h", 14400),
        ("2d", 172800),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        ("1.5h", 5400),
        (" 2H ", 7200),
        ("45", 45),
        (90, 90),
        (0.5, 0.5),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["4x", "", "h", "30m1h", "1h1h", "-5", "0s", 0, -1, True, None, "inf"])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def test_durations_in_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, SUPPORT_LINE + 'auto_close_after = "1h30m"\nreopen_within = 45\n')
    assert config.lines[0].auto_close_after == 5400.0
    assert config.lines[0].reopen_within == 45.0


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///linedesk.db", "sqlite:///{base}/linedesk.db"),
        ("sqlite:///data/../db/x.db?timeout=5", "sqlite:///{base}/db/x.db?timeout=5"),
        ("sqlite:////var/lib/linedesk.db", "sqlite:////var/lib/linedesk.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://user:pw@host:6380/1", "rediss://user:pw@host:6380/1"),
    ],
)
def test_store_url_resolved(tmp_path: Path, url: str, expected: str) -> None:
    config = load(tmp_path, f'[store]\nurl = "{url}"\n' + SUPPORT_LINE)
    assert config.store.url == url
    assert config.store_url_resolved() == expected.format(base=tmp_path)


def test_paths_are_relative_to_the_config_folder_not_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write_config(folder, '[processes]\ndir = "../catalog"\n' + SUPPORT_LINE)
    config = load_config(Path(os.path.relpath(path, elsewhere)), environ={})
    assert config.processes.dir == tmp_path / "catalog"
    assert config.base_dir == folder
    assert config.store_url_resolved() == f"sqlite:///{folder}/linedesk.db"

    absolute = load(tmp_path, '[processes]\ndir = "/srv/processes"\n' + SUPPORT_LINE)
    assert absolute.processes.dir == Path("/srv/processes")


def test_load_config_text_uses_base_dir_and_given_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TOKEN=from-dotenv\n", encoding="utf-8")
    text = '[[lines]]\nid = "a"\nname = "A"\ntelegram_token = "${TOKEN}"\n'
    config = load_config_text(text, base_dir=tmp_path, environ={"TOKEN": "given"}, source="demo.toml")
    assert config.lines[0].telegram_token == "given"
    assert config.processes.dir == tmp_path / "processes"
    assert config.config_path is None
    with pytest.raises(ConfigError) as excinfo:
        load_config_text(text, base_dir=tmp_path, environ={}, source="demo.toml")
    assert str(excinfo.value) == "demo.toml:4: lines[0].telegram_token: environment variable TOKEN is not set"


# --------------------------------------------------------------------------- secrets


def test_secrets_never_in_repr_or_str_but_readable(tmp_path: Path) -> None:
    text = """\
    [server]
    public_url = "https://desk.example.com"
    [store]
    url = "redis://:redispass@127.0.0.1:6379/0"
    [slack]
    bot_token = "xoxb-SECRET-BOT"
    signing_secret = "SECRET-SIGNING"
    app_token = "xapp-SECRET-APP"
    [[lines]]
    id = "support"
    name = "Support"
    telegram_token = "123:SECRET-TG"
    telegram_webhook_secret = "SECRET-HOOK"
    slack_desk_channel = "C1"
    """
    config = load(tmp_path, text, {"LINEDESK_ADMIN_TOKEN": "SECRET-ADMIN"})
    secrets = [
        "xoxb-SECRET-BOT",
        "SECRET-SIGNING",
        "xapp-SECRET-APP",
        "123:SECRET-TG",
        "SECRET-HOOK",
        "SECRET-ADMIN",
        "redispass",
    ]
    shown = [repr(config), str(config), repr(config.lines[0]), repr(config.slack), repr(config.store)]
    for text_shown in shown:
        for secret in secrets:
            assert secret not in text_shown
    # model_dump leaves the tokens out too (the store URL stays usable there).
    dumped = config.model_dump_json()
    for secret in secrets[:-1]:
        assert secret not in dumped
    assert "redis://:***@127.0.0.1:6379/0" in repr(config.store)
    assert config.slack.bot_token == "xoxb-SECRET-BOT"
    assert config.slack.signing_secret == "SECRET-SIGNING"
    assert config.slack.app_token == "xapp-SECRET-APP"
    assert config.lines[0].telegram_token == "123:SECRET-TG"
    assert config.lines[0].telegram_webhook_secret == "SECRET-HOOK"
    assert config.admin_token == "SECRET-ADMIN"
    assert config.store.url == "redis://:redispass@127.0.0.1:6379/0"


def test_bad_secret_value_not_echoed_in_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load(tmp_path, SUPPORT_LINE + 'telegram_webhook_secret = "TOP SECRET"\n')
    assert "TOP SECRET" not in str(excinfo.value)
    with pytest.raises(ValidationError) as direct:
        LineConfig(id="a", name="A", telegram_token="t", telegram_webhook_secret="TOP SECRET")
    assert "TOP SECRET" not in str(direct.value)


# --------------------------------------------------------------------------- lookups and direct use


def test_lookup_helpers(tmp_path: Path) -> None:
    text = (
        SLACK_OK
        + SUPPORT_LINE
        + '[[lines]]\nid = "sales"\nname = "Sales"\nslack_dm = true\n'
        + '[[operators]]\nid = "anna"\nname = "Anna"\nslack_user = "U1"\ntelegram_user = 11\n'
        + 'lines = ["support"]\n'
        + '[[operators]]\nid = "boris"\nname = "Boris"\n'
    )
    config = load(tmp_path, text)
    assert config.line("sales") is config.lines[1]
    assert config.line("nope") is None
    anna, boris = config.operators
    assert config.operator("boris") is boris
    assert config.operator("nope") is None
    assert config.operator_by_slack("U1") is anna
    assert config.operator_by_slack("") is None  # boris has no Slack user: "" must not match him
    assert config.operator_by_slack("U2") is None
    assert config.operator_by_telegram(11) is anna
    assert config.operator_by_telegram(12) is None
    assert config.slack_dm_line() is config.lines[1]
    assert boris.lines == ["*"] and boris.serves("sales") and boris.serves("support")
    assert anna.serves("support") and not anna.serves("sales")
    assert not boris.admin


def test_no_slack_dm_line(tmp_path: Path) -> None:
    assert load(tmp_path, SUPPORT_LINE).slack_dm_line() is None


def test_config_built_in_code_enforces_the_rules(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no client channel"):
        Config(lines=[LineConfig(id="a", name="A")], base_dir=tmp_path)
    with pytest.raises(ValidationError, match="unknown line 'b'"):
        Config(
            lines=[LineConfig(id="a", name="A", telegram_token="t")],
            operators=[OperatorConfig(id="o", name="O", lines=["b"])],
        )
    config = Config(
        lines=[LineConfig(id="a", name="A", slack_dm=True)],
        slack=SlackConfig(bot_token="x", signing_secret="y"),
        base_dir=tmp_path,
    )
    assert config.processes.dir == tmp_path / "processes"
    with pytest.raises(ValidationError):
        LineConfig(id="a", name="A", colour="red")  # type: ignore[call-arg]


def test_several_desk_channels_load(tmp_path: Path) -> None:
    config = load(tmp_path, SLACK + SUPPORT_LINE + 'slack_desk_channels = [" C1 ", "C2"]\n')
    line = config.lines[0]
    assert line.slack_desk_channels == ["C1", "C2"] and line.slack_desk_channel == ""
    assert line.desk_channels == ["C1", "C2"]
    single = load(tmp_path, SLACK + SUPPORT_LINE + 'slack_desk_channel = "C1"\n').lines[0]
    assert single.desk_channels == ["C1"] and single.slack_desk_channels is None
    assert load(tmp_path, SUPPORT_LINE).lines[0].desk_channels == []
