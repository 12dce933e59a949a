"""`[[replies]]` and `rating` in the config (SPEC §14): valid ones load; a bad placeholder, id or line is a clear
error naming the key, found by `load_config` (what `linedesk check-config` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, ConfigError, load_config

LINE = """
[[lines]]
id = "support"
name = "Support"
telegram_token = "111:AAA"
rating = true
"""


def load_text(folder: Path, text: str) -> Config:
    path = folder / "linedesk.toml"
    path.write_text(LINE + text, encoding="utf-8")
    return load_config(path, environ={})


def test_saved_replies_and_rating_load(tmp_path: Path) -> None:
    config = load_text(
        tmp_path,
        '[[replies]]\nid = "hello"\ntitle = "Hi"\ntext = "Hi {client_name}, {{literally}} #{session}"\n'
        'lines = ["support"]\n',
    )
    reply, line = config.reply("hello"), config.line("support")
    assert reply is not None and line is not None and line.rating
    assert reply.render({"client_name": "Ivan", "session": "7"}) == "Hi Ivan, {literally} #7"


@pytest.mark.parametrize(
    ("reply", "key", "fragment"),
    [
        ('id = "a"\ntitle = "A"\ntext = "Hi {name}"', "replies[0].text", "unknown placeholder {name}"),
        ('id = "a"\ntitle = "A"\ntext = "Hi {client_name.upper}"', "replies[0].text", "unknown placeholder"),
        ('id = "a"\ntitle = "A"\ntext = "Hi {"', "replies[0].text", "literal brace"),
        ('id = "a"\ntitle = "A"\ntext = "// note"', "replies[0].text", "internal note"),
        ('id = "42"\ntitle = "A"\ntext = "Hi"', "replies[0].id", "not be only digits"),
        ('id = "A b"\ntitle = "A"\ntext = "Hi"', "replies[0].id", "lowercase"),
        ('id = "a"\ntitle = "A"\ntext = "Hi"\nlines = ["nope"]', "replies[0].lines[0]", "unknown line 'nope'"),
        ('id = "a"\ntitle = "A"\ntext = "Hi"\ncolour = "red"', "replies[0].colour", "unknown key"),
    ],
)
def test_a_bad_saved_reply_is_an_error_naming_its_key(tmp_path: Path, reply: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, f"[[replies]]\n{reply}\n")
    found = [problem for problem in caught.value.problems if problem.key == key]
    assert found and fragment in found[0].message, [str(p) for p in caught.value.problems]


def test_duplicate_saved_reply_ids_are_an_error(tmp_path: Path) -> None:
    twice = '[[replies]]\nid = "a"\ntitle = "A"\ntext = "Hi"\n'
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, twice + twice)
    [problem] = caught.value.problems
    assert (problem.key, problem.message) == ("replies[1].id", "duplicate saved reply id 'a' (also replies[0])")
