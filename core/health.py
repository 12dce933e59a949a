"""What keeps linedesk from working fully, as a person can fix it (SPEC §7 `/readyz`, §8).

Adapters set a problem when a platform refuses them for a reason only a person can fix (the app
is not in the desk channel, a revoked token, a missing scope…) and clear it on their next success.
`/readyz` answers 503 while any problem is set; admins see the list in the Slack App Home.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    component: str
    """What is affected, e.g. "slack:C0DESK01" (one problem per component: the latest wins)."""
    text: str
    """What is wrong and how to fix it, for a person."""
    since: float


class Health:
    """A small registry of current problems, component → problem. One per linedesk, built in `bots/`."""

    def __init__(self, now: Callable[[], float]):
        self._now = now
        self._problems: dict[str, Problem] = {}

    def set(self, component: str, text: str) -> None:
        current = self._problems.get(component)
        since = current.since if current is not None and current.text == text else self._now()
        self._problems[component] = Problem(component, text, since)

    def clear(self, component: str) -> None:
        self._problems.pop(component, None)

    def problems(self) -> list[Problem]:
        """Current problems, oldest first."""
        return sorted(self._problems.values(), key=lambda p: (p.since, p.component))

    @property
    def ok(self) -> bool:
        return not self._problems
