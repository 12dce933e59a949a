"""The parts of the core.config package on their own: the TOML line locator, durations, the environment
(.env, overrides, their precedence) and the cross-field rules; and that the package keeps every name."""

from __future__ import annotations

import os
import textwrap
import tomllib
from pathlib import Path

import pytest

import core.config
from core.config import ConfigError, LineConfig, OperatorConfig, ServerConfig, SlackConfig, load_config, parse_duration
from core.config.environment import apply_environment, with_dotenv
from core.config.locate import KeyLocator, syntax_problem
from core.config.rules import check_rules

LINE = '[[lines]]\nid = "a"\nname = "A"\ntelegram_token = "t"\n'

# --------------------------------------------------------------------------- the package's names


def test_every_name_of_the_former_module_is_still_importable() -> None:
    names = (
        "AutostartEvent AutostartRuleConfig Config ConfigError ConfigProblem DEFAULT_CONFIG_PATH DeliveryConfig "
        "Duration ENV_ADMIN_TOKEN ENV_CONFIG ENV_LOG_FORMAT Int KeyPath LineConfig OperatorConfig ProcessesConfig "
        "ServerConfig SlackConfig StoreConfig TelegramConfig check_rules format_key load_config load_config_text "
        "parse_duration redact_url resolve_config_path"
    ).split()
    assert [name for name in names if not hasattr(core.config, name)] == []
    assert set(core.config.__all__) <= set(names)


# --------------------------------------------------------------------------- line locator


NESTED = textwrap.dedent(
    """\
    top = 1
    [server]
    port = 1
    [[lines]]
    id = "a"
      [[lines.autostart]]
      event = "session.created"
      [[lines.autostart]]
      event = "message.received"
      [lines.extra]
      key = 2
    [[lines]]
    id = "b"
    inline = { x = 1, y = [1, 2] }
      [[lines.autostart]]
      event = "session.closed"
    "quoted key" = 3
    dotted.part = 4
    note = '''
    fake = "not a key"
    '''
    after = 5
    [[operators]]
    id = "o"
    """
)


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("top",), 1),
        (("server",), 2),
        (("server", "port"), 3),
        (("server", "host"), 2),  # a key not in the file: its table's header
        (("lines", 0), 4),
        (("lines", 0, "id"), 5),
        (("lines", 0, "autostart", 0, "event"), 7),
        (("lines", 0, "autostart", 1), 8),
        (("lines", 0, "autostart", 1, "event"), 9),
        (("lines", 0, "extra", "key"), 11),  # a sub-table of the current array element
        (("lines", 1, "id"), 13),
        (("lines", 1, "inline", "y", 1), 14),  # inside an inline table: the enclosing key
        (("lines", 1, "autostart", 0, "event"), 16),
        (("lines", 1, "autostart", 0, "quoted key"), 17),
        (("lines", 1, "autostart", 0, "dotted", "part"), 18),
        (("lines", 1, "autostart", 0, "note"), 19),
        (("lines", 1, "autostart", 0, "fake"), 15),  # inside a multi-line string: not a key
        (("lines", 1, "autostart", 0, "after"), 22),
        (("operators", 0, "id"), 24),
        (("operators", 3, "id"), None),
        (("store", "url"), None),
        ((), None),
    ],
)
def test_locator_on_nested_tables_and_arrays_of_tables(path: tuple[str | int, ...], line: int | None) -> None:
    tomllib.loads(NESTED)  # the text is valid TOML
    assert KeyLocator(NESTED).line_of(path) == line


def test_syntax_problem_has_line_and_column_or_says_end_of_file() -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as excinfo:
        tomllib.loads("a = 1\nb = \n")
    problem = syntax_problem("f.toml", excinfo.value)
    assert (problem.file, problem.line, problem.key) == ("f.toml", 2, "")
    assert problem.message.startswith("TOML syntax error: ") and problem.message.endswith("(column 5)")

    with pytest.raises(tomllib.TOMLDecodeError) as excinfo:
        tomllib.loads("a = ")
    problem = syntax_problem("f.toml", excinfo.value)
    assert (problem.line, problem.message) == (None, "TOML syntax error: Invalid value at the end of the file")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1 h 2 m", 3720.0),
        ("1d 1s", 86401.0),
        ("0.5s", 0.5),
        ("10M", 600.0),
        ("  7 ", 7.0),
        ("2.5", 2.5),
        (1e-3, 0.001),
    ],
)
def test_duration_edge_cases(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1s1h", "units must appear once, in the order d, h, m, s"),
        ("1m1m", "units must appear once, in the order d, h, m, s"),
        ("1h-1m", "use a number of seconds"),
        ("1.h", "use a number of seconds"),
        ("h1", "use a number of seconds"),
        ("   ", "use a number of seconds"),
        ("nan", "must be greater than zero"),
        (float("inf"), "must be greater than zero"),
        ("0", "must be greater than zero"),
        ("0h0m", "must be greater than zero"),
        (False, "use a number of seconds"),
        ([30], "use a number of seconds"),
    ],
)
def test_duration_rejects_with_a_reason(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as excinfo:
        parse_duration(value)
    assert reason in str(excinfo.value)


def test_a_bad_duration_in_the_file_names_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(LINE + 'reopen_within = "5m1h"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path / "c.toml", environ={})
    [problem] = excinfo.value.problems
    assert (problem.line, problem.key) == (5, "lines[0].reopen_within")
    assert "units must appear once" in problem.message


# --------------------------------------------------------------------------- environment precedence


def _load(folder: Path, text: str, dotenv: str | None, environ: dict[str, str]) -> core.config.Config:
    (folder / "c.toml").write_text(text, encoding="utf-8")
    if dotenv is not None:
        (folder / ".env").write_text(dotenv, encoding="utf-8")
    return load_config(folder / "c.toml", environ=environ)


def test_override_precedence_environment_then_dotenv_then_file(tmp_path: Path) -> None:
    text = '[store]\nurl = "sqlite:///file.db"\n' + LINE
    dotenv = "LINEDESK_STORE_URL=sqlite:///dotenv.db\n"
    assert _load(tmp_path, text, None, {}).store.url == "sqlite:///file.db"
    assert _load(tmp_path, text, dotenv, {}).store.url == "sqlite:///dotenv.db"
    environ = {"LINEDESK_STORE_URL": "sqlite:///env.db"}
    assert _load(tmp_path, text, dotenv, environ).store.url == "sqlite:///env.db"


def test_an_empty_value_counts_as_unset_and_the_real_environment_still_wins(tmp_path: Path) -> None:
    text = '[store]\nurl = "sqlite:///file.db"\n' + LINE
    # empty in .env: the file's value
    assert _load(tmp_path, text, "LINEDESK_STORE_URL=\n", {}).store.url == "sqlite:///file.db"
    # empty in the real environment hides the .env value (the environment wins), then counts as unset: the file's
    config = _load(
        tmp_path,
        text,
        "LINEDESK_STORE_URL=sqlite:///dotenv.db\nLINEDESK_ADMIN_TOKEN=dotenv-admin\nLINEDESK_LOG_FORMAT=json\n",
        {"LINEDESK_STORE_URL": "", "LINEDESK_ADMIN_TOKEN": "", "LINEDESK_LOG_FORMAT": ""},
    )
    assert config.store.url == "sqlite:///file.db"
    assert config.admin_token == ""
    assert config.log_format == "text"
    # the same for ${NAME}: an empty real variable is set, to "", and wins over .env
    config = _load(tmp_path, LINE + 'greeting = "${GREETING}"\n', "GREETING=from dotenv\n", {"GREETING": ""})
    assert config.lines[0].greeting == ""


def test_dotenv_value_without_equals_sign_is_not_a_variable(tmp_path: Path) -> None:
    merged = with_dotenv(tmp_path, {})
    assert merged == {}
    (tmp_path / ".env").write_text("JUST_A_NAME\nA=1\nB=${A}\n", encoding="utf-8")
    assert with_dotenv(tmp_path, {"C": "3"}) == {"A": "1", "B": "${A}", "C": "3"}  # no interpolation


def test_linedesk_config_is_not_read_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("LINEDESK_CONFIG=other.toml\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINEDESK_CONFIG", raising=False)
    assert core.config.resolve_config_path(None) == Path("linedesk.toml")
    monkeypatch.setenv("LINEDESK_CONFIG", "~/from-env.toml")
    assert core.config.resolve_config_path(None) == Path("~/from-env.toml").expanduser()


def test_apply_environment_sets_overrides_and_names_their_variables() -> None:
    data: dict[str, object] = {"store": {"url": "sqlite:///f.db"}, "slack": "not a table"}
    environ = {
        "LINEDESK_STORE_URL": "redis://h/0",
        "TELEGRAM_API_URL": "http://tg",
        "SLACK_API_URL": "http://slack",
        "LINEDESK_LOG_FORMAT": " JSON ",
        "OTHER": "x",
    }
    before = dict(os.environ)
    sources = apply_environment(data, environ)
    assert data == {
        "store": {"url": "redis://h/0"},
        "slack": "not a table",  # left for validation to report at the file's line
        "telegram": {"api_url": "http://tg"},
        "admin_token": "",
        "worker_token": "",
        "log_format": "json",
    }
    assert sources == {
        ("store", "url"): "LINEDESK_STORE_URL",
        ("telegram", "api_url"): "TELEGRAM_API_URL",
        ("log_format",): "LINEDESK_LOG_FORMAT",
    }
    assert dict(os.environ) == before


# --------------------------------------------------------------------------- rules


def _line(**values: object) -> LineConfig:
    return LineConfig.model_validate({"name": "L", **values})


def _operator(**values: object) -> OperatorConfig:
    return OperatorConfig.model_validate({"name": "O", **values})


def test_rules_report_every_problem_in_order() -> None:
    lines = [
        (0, _line(id="a", telegram_token="t", slack_dm=True)),
        (1, _line(id="a", telegram_token="t", slack_desk_channel="C1", slack_dm=True)),
        (3, _line(id="c", telegram_desk_chat=-100)),
        (4, _line(id="d", telegram_token="u", autostart=[{"event": "session.closed", "process": "p"}] * 3)),
    ]
    operators = [
        (0, _operator(id="o", slack_user="U1", telegram_user=1, lines=["a", "x", "*"])),
        (1, _operator(id="o", slack_user="U1", telegram_user=1)),
        (2, _operator(id="p", slack_user="U2", telegram_user=2, lines=["b"])),
    ]
    problems = check_rules(ServerConfig(public_url="https://x.example"), SlackConfig(), lines, operators)
    assert [(core.config.format_key(path), message.split(" ")[0]) for path, message in problems] == [
        ("lines[0].telegram_webhook_secret", "required"),
        ("lines[1].id", "duplicate"),
        ("lines[1].slack_dm", "only"),
        ("lines[1].telegram_token", "the"),
        ("lines[1].telegram_webhook_secret", "required"),
        ("lines[3]", "line"),
        ("lines[3].telegram_desk_chat", "a"),
        ("lines[4].telegram_webhook_secret", "required"),
        ("lines[4].autostart[1].event", "duplicate"),
        ("lines[4].autostart[2].event", "duplicate"),
        ("slack.bot_token", "required"),
        ("slack.signing_secret", "required"),
        ("operators[0].lines[1]", "unknown"),
        ("operators[1].id", "duplicate"),
        ("operators[1].slack_user", "Slack"),
        ("operators[1].telegram_user", "Telegram"),
        ("operators[2].lines[0]", "unknown"),
    ]
    messages = dict(problems)
    assert messages[("slack", "bot_token")] == "required because lines[0].slack_dm = true"
    assert messages[("lines", 4, "autostart", 2, "event")].startswith(
        "duplicate auto-start event 'session.closed' (also autostart[0])"
    )
    assert messages[("operators", 1, "telegram_user")] == "Telegram user 1 is already operators[0]"


def test_rules_skip_sections_passed_as_none_and_take_known_line_ids() -> None:
    lines = [(0, _line(id="a", telegram_token="t", slack_desk_channel="C1"))]
    operators = [(0, _operator(id="o", lines=["a", "broken"]))]
    assert check_rules(None, None, lines, operators, ["a", "broken"]) == []
    assert check_rules(None, None, lines, operators, check_operator_lines=False) == []
    assert check_rules(None, None, lines, operators) == [(("operators", 0, "lines", 1), "unknown line 'broken'")]
