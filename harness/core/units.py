"""Quantities with units, as written in targets files: "1.2s", "250ms", "99.9%", "0.1GB/h".

Every quantity is normalised to one base unit per kind, the unit results.json uses:
durations to milliseconds, ratios to a fraction in [0, 1], memory growth to bytes per hour,
counts to a plain number. GB means 10^9 bytes (GiB is 2^30), as the documents use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DURATION = "duration"
RATIO = "ratio"
GROWTH = "growth"
COUNT = "count"

#: The base unit of each kind, as written in results.json's ``unit`` fields.
BASE_UNIT = {DURATION: "ms", RATIO: "ratio", GROWTH: "bytes/h", COUNT: "count"}

_DURATION_MS = {"us": 1e-3, "µs": 1e-3, "μs": 1e-3, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0}
_BYTES = {
    "B": 1.0, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30,
}
_PER_HOUR = {"s": 3600.0, "min": 60.0, "h": 1.0}

_QUANTITY = re.compile(r"^\s*(?P<number>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\s*(?P<unit>[^\s\d.+-][^\s]*)?\s*$")


class UnitError(ValueError):
    """A quantity that cannot be read; the message says what was expected."""


@dataclass(frozen=True)
class Quantity:
    """A number in the base unit of its kind (ms, fraction, bytes/h or count)."""

    value: float
    kind: str
    text: str

    @property
    def unit(self) -> str:
        """The base unit's name as results.json writes it."""
        return BASE_UNIT[self.kind]


def _split(text: str) -> tuple[float, str]:
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(f"cannot read {text!r} as a number with a unit (e.g. '1.2s', '250ms', '99.9%', '0.1GB/h')")
    value = float(match.group("number"))
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite number")
    return value, match.group("unit") or ""


def parse_quantity(text: str) -> Quantity:
    """Read any supported quantity and normalise it to its kind's base unit.

    Durations (us, µs, ms, s, min, h) become milliseconds; percentages become a fraction;
    byte rates (B, kB, MB, GB, KiB, MiB, GiB per s, min or h) become bytes per hour; a bare
    number is a count.
    """
    value, unit = _split(text)
    if unit == "":
        return Quantity(value, COUNT, text.strip())
    if unit == "%":
        return Quantity(value / 100.0, RATIO, text.strip())
    if unit in _DURATION_MS:
        return Quantity(value * _DURATION_MS[unit], DURATION, text.strip())
    if "/" in unit:
        size, _, per = unit.partition("/")
        if size in _BYTES and per in _PER_HOUR:
            return Quantity(value * _BYTES[size] * _PER_HOUR[per], GROWTH, text.strip())
    known = ", ".join([*_DURATION_MS, "%", "GB/h (any of B kB MB GB KiB MiB GiB per s, min, h)"])
    raise UnitError(f"unknown unit {unit!r} in {text!r}; expected one of {known}, or no unit for a count")


def parse_duration_ms(text: str) -> float:
    """Milliseconds in a duration such as "1.2s", "250ms", "5min"."""
    return _expect(text, DURATION).value


def parse_ratio(text: str) -> float:
    """The fraction (0..1) in a percentage such as "99.9%"."""
    return _expect(text, RATIO).value


def parse_growth_bytes_per_hour(text: str) -> float:
    """Bytes per hour in a growth rate such as "0.1GB/h" (GB = 10^9 bytes)."""
    return _expect(text, GROWTH).value


def _expect(text: str, kind: str) -> Quantity:
    quantity = parse_quantity(text)
    if quantity.kind != kind:
        raise UnitError(f"{text!r} is a {quantity.kind}, expected a {kind} (e.g. {_EXAMPLE[kind]})")
    return quantity


_EXAMPLE = {DURATION: "'1.2s' or '250ms'", RATIO: "'99.9%'", GROWTH: "'0.1GB/h'", COUNT: "'0'"}


def format_value(value: float | None, kind: str) -> str:
    """A readable rendering of a base-unit value: "1.20 s", "87 ms", "99.93%", "0.10 GB/h"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind == DURATION:
        if abs(value) >= 120_000.0:
            return f"{value / 60_000.0:.1f} min"
        if abs(value) >= 1000.0:
            return f"{value / 1000.0:.2f} s"
        return f"{value:.1f} ms" if abs(value) < 100 else f"{value:.0f} ms"
    if kind == RATIO:
        return f"{value * 100.0:.2f}%"
    if kind == GROWTH:
        return f"{value / 1e9:.3f} GB/h"
    return f"{value:g}"
