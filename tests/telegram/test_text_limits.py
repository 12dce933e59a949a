"""Telegram's length limits are in UTF-16 code units."""

from __future__ import annotations

from adapters.telegram.text import fit, split_text, utf16_len


def test_emoji_outside_the_bmp_count_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("👍") == 2
    assert utf16_len("й") == 1


def test_fit_cuts_by_units_and_never_splits_a_surrogate_pair() -> None:
    text = "😀" * 100
    cut = fit(text, 11)
    assert utf16_len(cut) <= 11 and cut.endswith("…") and cut[:-1] == "😀" * 5
    assert fit("short", 10) == "short"


def test_split_keeps_every_chunk_within_the_limit_and_loses_nothing() -> None:
    text = ("слово 😀 " * 700).strip()
    chunks = split_text(text, 4096)
    assert len(chunks) >= 2
    assert all(utf16_len(chunk) <= 4096 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()
    assert split_text("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]
