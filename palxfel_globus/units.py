"""Durations ("10m", "1h30m") and sizes ("5TB", "200MB") as people write them in config."""

from __future__ import annotations

import re

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_duration(value: object) -> int:
    """Whole seconds from an int or a string like ``"90s"``, ``"10m"``, ``"1h30m"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 600, "10m" or "1h"')
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, str) and re.fullmatch(rf"(?:\s*{_DURATION_PART.pattern}\s*)+", value.strip().lower()):
        seconds = round(
            sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(value.strip().lower()))
        )
    else:
        raise ValueError('expected a duration such as 600, "10m" or "1h"')
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an int or a string like ``"200MB"`` (powers of 1000) or ``"2GiB"`` (of 1024)."""
    if isinstance(value, bool):
        raise ValueError('expected a size such as 1000000, "200MB" or "5TB"')
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError('expected a size such as 1000000, "200MB" or "5TB"')
    number, unit = match.groups()
    unit = unit.lower()
    base = 1024 if unit.endswith("ib") or unit.endswith("i") else 1000
    return round(float(number) * base ** _SIZE_POWERS[unit[:1] if unit[:1] != "b" else ""])


def format_size(size: int | None) -> str:
    """Decimal units, as Globus and ``df -H`` show them."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
