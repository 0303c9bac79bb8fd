"""Practical minimums: the smallest change of a metric that matters, and their ``--practical`` syntax.

A comparison counts a change only past this band (see :mod:`harness.core.compare`), so a
statistically clear but tiny change never fails a release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PracticalMinimum:
    """Smallest change that matters: ``max(relative × |baseline|, absolute)`` in the metric's unit."""

    relative: float = 0.0
    absolute: float = 0.0

    def threshold(self, baseline_value: float) -> float:
        """The band half-width for this baseline value (same unit as the metric)."""
        return max(self.relative * abs(baseline_value), self.absolute)


# Keys are metric families; `latency` covers p50/p95/p99 (ms), `availability` is a fraction
# (0.001 = 0.1 percentage point), `memory` is bytes per hour, `bench` is a benchmark's seconds.
DEFAULT_PRACTICAL: dict[str, PracticalMinimum] = {
    "latency": PracticalMinimum(0.05, 10.0),
    "availability": PracticalMinimum(0.0, 0.001),
    "memory": PracticalMinimum(0.20, 20e6),
    "bench": PracticalMinimum(0.10, 0.0),
}

_UNITS = {
    "latency": {"ms": 1.0, "s": 1000.0, "us": 0.001},
    "availability": {"pp": 0.01, "": 1.0},
    "memory": {"b/h": 1.0, "kb/h": 1e3, "mb/h": 1e6, "gb/h": 1e9, "": 1.0},
    "bench": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9},
}


def parse_practical(spec: str) -> tuple[str, PracticalMinimum]:
    """Parse ``latency=5%,10ms`` / ``availability=0.1pp`` / ``memory=20%,20MB/h`` / ``bench=10%``.

    Returns (family, PracticalMinimum) with the absolute part in the family's unit (ms, fraction,
    bytes/hour, seconds). Raises ValueError naming the bad part.
    """
    family, sep, rest = spec.partition("=")
    family = family.strip().lower()
    if not sep or family not in _UNITS:
        raise ValueError(f"--practical {spec!r}: expected FAMILY=VALUE[,VALUE] with FAMILY one of "
                         f"{', '.join(sorted(_UNITS))}")
    relative, absolute = 0.0, 0.0
    for part in filter(None, (p.strip().lower() for p in rest.split(","))):
        match = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*([a-z%/]*)", part)
        if not match:
            raise ValueError(f"--practical {spec!r}: cannot read {part!r}")
        number, unit = float(match.group(1)), match.group(2)
        if unit == "%":
            relative = number / 100.0
        elif unit in _UNITS[family]:
            absolute = number * _UNITS[family][unit]
        else:
            units = ", ".join(repr(u) for u in _UNITS[family] if u) + ", '%'"
            raise ValueError(f"--practical {spec!r}: unit {unit!r} is not one of {units} for {family}")
    if relative == 0.0 and absolute == 0.0 and not rest.strip().startswith("0"):
        raise ValueError(f"--practical {spec!r}: no value given")
    return family, PracticalMinimum(relative, absolute)
