"""Durations ("10m", "1h30m") and sizes ("5TB", "200MB") as people write them in config."""

from __future__ import annotations

import re

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)", re.IGNORECASE)
_SIZE_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
MAX_DURATION = 10 * 365 * 86400  # ten years: longer than any lease, interval or wait means a typo
MAX_SIZE = 10**18  # an exabyte: no DAQ run moves more


def parse_duration(value: object) -> int:
    """Whole seconds from an int or a string like ``"90s"``, ``"10m"``, ``"1h30m"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError('expected a duration such as 600, "10m" or "1h"')
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, str) and re.fullmatch(rf"(?:\s*{_DURATION_PART.pattern}\s*)+", value.strip().lower()):
        try:
            total = sum(float(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(value.strip().lower()))
        except OverflowError:
            total = float("inf")
        seconds = round(total) if total <= MAX_DURATION else MAX_DURATION + 1
    else:
        raise ValueError('expected a duration such as 600, "10m" or "1h"')
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"{_short(value)} is longer than ten years")
    return seconds


def _short(value: object) -> str:
    """A value as a message can quote it: a 400-digit number is not read out in full."""
    text = repr(value)
    return text if len(text) <= 40 else text[:30] + "…" + text[-5:]


def parse_size(value: object) -> int:
    """Bytes from an int or a string like ``"200MB"`` (powers of 1000) or ``"2GiB"`` (of 1024)."""
    if isinstance(value, bool):
        raise ValueError('expected a size such as 1000000, "200MB" or "5TB"')
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError('expected a size such as 1000000, "200MB" or "5TB"')
        number, unit = match.groups()
        unit = unit.lower()
        base = 1024 if unit.endswith("ib") or unit.endswith("i") else 1000
        try:
            exact = float(number) * base ** _SIZE_POWERS[unit[:1] if unit[:1] != "b" else ""]
        except OverflowError:
            exact = float("inf")
        size = round(exact) if exact <= MAX_SIZE else MAX_SIZE + 1
    if size < 0:
        raise ValueError("a size cannot be negative")
    if size > MAX_SIZE:
        raise ValueError(f"{_short(value)} is more than an exabyte")
    return size


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


def format_duration(seconds: int) -> str:
    """A whole number of the largest unit that divides it: "90 d", "12 h", "10 min", "45 s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
