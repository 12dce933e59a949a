"""The process picker of the Telegram desk: every catalog process grouped by scope, as an inline
keyboard with the scope titles as rows of their own, one process per row, in pages.

Telegram allows 64 bytes of callback data while a BPMN process id may be longer, so a button
names its process by a short hash of the id; the server resolves the hash against the catalog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.bpmn.catalog import Catalog, ProcessEntry, ScopeGroup

PAGE_SIZE = 30
KEY_LENGTH = 12
BUTTON_TEXT = 60


class PickerTitle(CallbackData, prefix="pt"):
    """A scope title row: the click only shows the title (a title may be too long for its button)."""

    group: int


class PickProcess(CallbackData, prefix="pp"):
    session: int
    process: str
    """`process_key` of the process id."""


class PickPage(CallbackData, prefix="pg"):
    session: int
    page: int


def process_key(process_id: str) -> str:
    return hashlib.sha256(process_id.encode()).hexdigest()[:KEY_LENGTH]


def resolve(catalog: Catalog, key: str) -> ProcessEntry | None:
    """The catalog entry a button names; None when no entry (or, improbably, two) has that key."""
    found = [entry for entry in catalog if process_key(entry.id) == key]
    return found[0] if len(found) == 1 else None


def group_title(catalog: Catalog, index: int) -> str | None:
    groups = catalog.grouped()
    return groups[index].scope.title if 0 <= index < len(groups) else None


def cut(text: str, limit: int = BUTTON_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def page_count(groups: Sequence[ScopeGroup], size: int = PAGE_SIZE) -> int:
    total = sum(len(group.processes) for group in groups)
    return max(1, -(-total // size))


def process_keyboard(
    groups: Sequence[ScopeGroup],
    page: int,
    *,
    choose: Callable[[ProcessEntry], str],
    turn: Callable[[int], str],
    tail: Sequence[list[InlineKeyboardButton]] = (),
    size: int = PAGE_SIZE,
) -> tuple[InlineKeyboardMarkup, int, int]:
    """(keyboard, page shown, pages): `size` processes per page, each scope's title above its first
    process on the page, ◀ / ▶ to turn pages. `choose` and `turn` give the buttons' payloads."""
    flat = [(index, entry) for index, group in enumerate(groups) for entry in group.processes]
    pages = page_count(groups, size)
    page = min(max(page, 0), pages - 1)
    rows: list[list[InlineKeyboardButton]] = []
    current: int | None = None
    for index, entry in flat[page * size : (page + 1) * size]:
        if index != current:
            current = index
            title = groups[index].scope.title
            rows.append([InlineKeyboardButton(text=cut(f"📂 {title}"), callback_data=PickerTitle(group=index).pack())])
        rows.append([InlineKeyboardButton(text=cut(entry.name), callback_data=choose(entry))])
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(InlineKeyboardButton(text="◀", callback_data=turn(page - 1)))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton(text="▶", callback_data=turn(page + 1)))
    if nav:
        rows.append(nav)
    rows.extend(tail)
    return InlineKeyboardMarkup(inline_keyboard=rows), page, pages


def session_picker(
    session: int, client_name: str, groups: Sequence[ScopeGroup], page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """The reply to /startprocess and the card's Start process button."""
    keyboard, page, pages = process_keyboard(
        groups,
        page,
        choose=lambda entry: PickProcess(session=session, process=process_key(entry.id)).pack(),
        turn=lambda number: PickPage(session=session, page=number).pack(),
    )
    text = f"▶ Start a process for session #{session} · {client_name}"
    if not groups:
        return text + "\nThe catalog has no processes.", keyboard
    text += "\nChoose one; it starts at once."
    if pages > 1:
        text += f" Page {page + 1} of {pages}."
    return text, keyboard
