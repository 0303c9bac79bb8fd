"""Numbers as a person reads them: units, sensible precision, and "—" for what was not measured.

GB is 10^9 bytes (the documents' unit), as run-directory.md says.
"""

from __future__ import annotations

import math

DASH = "—"

# status -> (symbol, word): the table must read right without colour (print, colour blindness)
STATUS_LABELS = {
    "pass": ("✔", "PASS"),
    "fail": ("✘", "FAIL"),
    "warn": ("▲", "WARN"),
    "unknown": ("?", "UNKNOWN"),
    "error": ("!", "ERROR"),
    "unmatched": ("!", "UNMATCHED"),
}


def status_label(status: str | None) -> str:
    """"✘ FAIL" style label for a target status (unknown statuses are shown as given)."""
    symbol, word = STATUS_LABELS.get(str(status), ("?", str(status).upper()))
    return f"{symbol} {word}"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def ms(value: float | None) -> str:
    """Milliseconds: "87 ms", "1.23 s" from a second, "5.0 min" from two minutes."""
    if _missing(value):
        return DASH
    if abs(value) >= 120_000:
        return f"{value / 60_000:.1f} min"
    if abs(value) >= 1000:
        return f"{value / 1000:.2f} s"
    if abs(value) >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def fraction_pct(value: float | None, digits: int = 2) -> str:
    """A fraction 0..1 as a percentage: 0.99851 -> "99.85%"."""
    if _missing(value):
        return DASH
    return f"{100 * value:.{digits}f}%"


def bytes_(value: float | None) -> str:
    """Bytes in decimal units (GB = 10^9 bytes)."""
    if _missing(value):
        return DASH
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def number(value: float | None) -> str:
    """A plain number with up to 4 significant digits."""
    if _missing(value):
        return DASH
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4g}"


def with_unit(value: float | None, unit: str | None) -> str:
    """A target's value in its unit: "ms", "s", "%", "ratio", "bytes/h", "count", or anything else."""
    if _missing(value):
        return DASH
    unit = (unit or "").strip()
    if unit == "ms":
        return ms(value)
    if unit == "s":
        return ms(value * 1000)
    if unit == "%":
        return f"{value:.2f}%"
    if unit in ("ratio", "fraction", "rate"):
        return fraction_pct(value)
    if unit in ("bytes/h", "B/h", "bytes_per_hour"):
        return f"{value / 1e9:.3f} GB/h"
    if unit in ("bytes", "B"):
        return bytes_(value)
    if unit in ("count", ""):
        return number(value)
    return f"{number(value)} {unit}"


def interval(low: float | None, high: float | None, unit: str | None) -> str:
    """"[lo, hi]" in the target's unit, or — when there is no interval."""
    if _missing(low) or _missing(high):
        return DASH
    if low == high:
        return "point estimate"
    return f"[{with_unit(low, unit)}, {with_unit(high, unit)}]"


def per_s(value: float | None) -> str:
    """A rate per second."""
    if _missing(value):
        return DASH
    return f"{value:.2f}/s"


def md_cell(text: object) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(headers: list[str], rows: list[list[object]], align: str | None = None) -> list[str]:
    """THE Markdown table: the header row, the alignment row and one line per row, every cell
    through :func:`md_cell`. ``align``: one letter per column, ``l`` (default) or ``r``. Only
    pipes and newlines are escaped, so Markdown inside a cell (a link, **bold**) stays."""
    align = (align or "").ljust(len(headers), "l")
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |",
             "|" + "".join("---:|" if a == "r" else "---|" for a in align[: len(headers)])]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines
