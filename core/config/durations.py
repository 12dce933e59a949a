"""Durations in the config: a bare number of seconds or a string like "30s", "10m", "4h", "2d", "1h30m"."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_DURATION_FULL_RE = re.compile(r"(?:\d+(?:\.\d+)?\s*[dhms]\s*)+")
_DURATION_UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
_DURATION_HINT = "use a number of seconds or a string like '30s', '10m', '4h', '2d', '1h30m'"


def _parse_duration_text(value: str) -> float:
    text = value.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    if not text or not _DURATION_FULL_RE.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    order = [unit for unit, _ in _DURATION_UNITS]
    factors = dict(_DURATION_UNITS)
    seconds = 0.0
    last = -1
    for number, unit in _DURATION_PART_RE.findall(text):
        position = order.index(unit)
        if position <= last:
            raise ValueError(f"invalid duration {value!r}: units must appear once, in the order d, h, m, s")
        last = position
        seconds += float(number) * factors[unit]
    return seconds


def parse_duration(value: object) -> float:
    """Seconds from a duration: a bare number (seconds) or a string like "30s", "10m", "4h", "2d", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_text(value)
    else:
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"invalid duration {value!r}: must be greater than zero")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
