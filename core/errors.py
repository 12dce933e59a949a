"""Errors that carry a reason a person can read."""

from __future__ import annotations


class Refusal(Exception):
    """An operator's or admin's action was refused; `reason` is shown to them as is.
    Nothing was changed and nothing was sent."""

    def __init__(self, reason: str, code: str = "refused"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class DeliveryError(Exception):
    """Raised by a deliverer. `retry_after` set: try again after that many seconds."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None, reason: str | None = None
    ):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.reason = reason
        """A short machine word for a permanent failure: "blocked", "chat_not_found", …"""
