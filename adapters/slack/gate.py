"""What a request to `/slack/events` passes before Bolt sees it (SPEC §8).

* The signature and the 5-minute window, checked on the raw body with slack_sdk's verifier (Bolt checks
  them again): a forged or stale request — or one whose timestamp is not even a number — is a 401, and a
  body that does not parse is a 400, never a 500 with a traceback in the log.
* Replays: Slack signs every request afresh, so a second request with the same signature is a copy
  someone captured and sent again within the window. Events are deduplicated by `event_id` later
  (`adapters.slack.events`); a replayed click, command or form is answered 200 and not dispatched.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from slack_sdk.signature import SignatureVerifier

from core.clock import Clock
from core.store.base import Store

log = logging.getLogger(__name__)

REPLAY_WINDOW = 6 * 60.0
"""Seconds a request's signature is remembered: Slack's 5-minute window and a minute of clock skew."""


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestGate:
    def __init__(self, signing_secret: str, store: Store, clock: Clock):
        self._verifier = SignatureVerifier(signing_secret)
        self._store = store
        self._clock = clock

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Raise Refused(401) unless the request is signed by Slack within the last 5 minutes."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Refused(401, "invalid request")
        if not self._verifier.is_valid(body, timestamp, signature):
            raise Refused(401, "invalid request")

    async def first_time(self, headers: Mapping[str, str], is_event: bool) -> bool:
        """False for a replayed copy of a signed request already answered (events excepted: see above)."""
        if is_event:
            return True
        digest = hashlib.sha256(headers.get("X-Slack-Signature", "").encode()).hexdigest()[:32]
        if await self._store.claim(f"slack.request:{digest}", REPLAY_WINDOW, self._clock.now()):
            return True
        log.warning("a Slack request was sent again with the same signature (a replay): answered, not acted on")
        return False
