"""Durations and rates as people write them: ``90s``, ``10m``, ``1h30m``; ``60/min``, ``2/s``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h``, ``1h30m`` -> seconds."""
    text = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(min|s|m|h|d|)", text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 10m, 2h, 1h30m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_positive_duration(text: str) -> float:
    """A duration that must be more than nothing (a time limit of 0 would fail every request)."""
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text.strip()!r} leaves no time at all; give a duration above zero (examples: 30s, 2m), "
                         "or leave the option out for the default")
    return seconds


def parse_rate(text: str) -> float:
    """``60/min``, ``2/s``, ``1000/h`` or ``60`` -> requests per minute."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|min|m|h|hour))?\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a rate (examples: 60/min, 2/s, 1000/h)")
    per = {"s": 60, "sec": 60, None: 1, "min": 1, "m": 1, "h": 1 / 60, "hour": 1 / 60}[match.group(2)]
    rate = float(match.group(1)) * per
    if rate <= 0:
        raise ValueError(f"{text!r} allows no request at all; give a rate above zero (examples: 60/min, 2/s), "
                         "or leave --rate-limit out for no pacing")
    return rate


def parse_share(text: str) -> float:
    """``1/4``, ``0.25`` or ``25%`` -> 0.25: a process's part of a limit it shares with others."""
    from fractions import Fraction

    cleaned = text.strip()
    try:
        share = Fraction(cleaned[:-1]) / 100 if cleaned.endswith("%") else Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a share (examples: 1/4, 0.25, 25%)") from None
    if not 0 < share <= 1:
        raise ValueError(f"{text!r} is not a share between 0 and 1 (examples: 1/4, 0.25, 25%)")
    return float(share)


def format_duration(seconds: float) -> str:
    """``45s``, ``12m``, ``1h05m``: how long, the way a log line says it."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def converter(parse: Callable[[str], float]) -> Callable[[click.Context, click.Parameter, Any], float | None]:
    """A click callback turning an option's text into a number with `parse`; a bad value names the option."""

    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
        if value is None or isinstance(value, float):
            return value
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return convert
