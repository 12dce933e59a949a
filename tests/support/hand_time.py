"""A time source the test moves by hand, for the sandboxes' rate limits (``clock=``): no sleeping."""

from __future__ import annotations


class HandTime:
    """Seconds that pass only when :meth:`advance` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
