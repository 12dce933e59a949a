"""The refs linedesk wrote before the platform links (before SQLite migration 7 / 8, Redis layout 3 / 4): to make
stores as older versions left them, for the upgrade tests."""

from __future__ import annotations

from typing import Any, cast

from core.links import LEGACY_FORWARD, LEGACY_REFS, LEGACY_REVERSE, Link, LinkKind
from core.refs import RefSpace
from core.store import Store

Ref = tuple[str, str, dict[str, Any]]
"""(namespace, key, value) of a ref."""


async def set_legacy_ref(store: Store, namespace: str, key: str, value: dict[str, Any]) -> None:
    """A ref in a namespace that is no `RefSpace` any more, written by `set_ref` as the older versions did (the
    stores keep a space under its string)."""
    await store.set_ref(cast(RefSpace, namespace), key, value)


def legacy_refs_of(link: Link) -> list[Ref]:
    """The ref(s) an older linedesk wrote for what is this link now: a forward and a reverse one for a session's
    thread or topic; one, keyed by ours, for the others — by the platform key for a message's source."""
    if link.kind in LEGACY_FORWARD:
        return [
            (LEGACY_FORWARD[link.kind], link.ours, link.data),
            (LEGACY_REVERSE[link.kind], link.platform, {"session": int(link.ours)}),
        ]
    if link.kind is LinkKind.MESSAGE_SOURCE:
        return [(LEGACY_REFS[link.kind], link.platform, link.data)]
    return [(LEGACY_REFS[link.kind], link.ours, link.data)]


async def get_legacy_ref(store: Store, namespace: str, key: str) -> dict[str, Any] | None:
    """A ref of a namespace that is no `RefSpace` any more (None once the upgrade has converted it)."""
    return await store.get_ref(cast(RefSpace, namespace), key)
