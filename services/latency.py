"""Latency distributions for fault knobs: parse a plain dict once, sample milliseconds.

A distribution is a dict (JSON/TOML): ``{"kind": "none"}``, ``{"kind": "fixed", "ms"}``,
``{"kind": "uniform", "min_ms", "max_ms"}``, ``{"kind": "lognormal", "median_ms", "sigma"}``,
each optionally with ``tail_prob`` and ``tail_ms`` (a heavy tail added with that probability).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


class KnobError(ValueError):
    """A fault knob is invalid; ``field`` names it (dotted path)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


_KINDS = {
    "none": set(),
    "fixed": {"ms"},
    "uniform": {"min_ms", "max_ms"},
    "lognormal": {"median_ms", "sigma"},
}
_TAIL = {"tail_prob", "tail_ms"}


def _number(spec: dict, key: str, field: str, lo: float = 0.0, hi: float = 600_000.0) -> float:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise KnobError(f"{field}.{key}", "must be a number")
    if not lo <= value <= hi:
        raise KnobError(f"{field}.{key}", f"must be between {lo:g} and {hi:g}")
    return float(value)


@dataclass(frozen=True)
class LatencyDist:
    """A parsed latency distribution; :meth:`sample_ms` draws one delay in milliseconds."""

    kind: str = "none"
    a: float = 0.0
    b: float = 0.0
    tail_prob: float = 0.0
    tail_ms: float = 0.0

    @classmethod
    def parse(cls, spec: object, field: str) -> LatencyDist:
        """Validate a distribution dict; raises :class:`KnobError` naming ``field``."""
        if not isinstance(spec, dict):
            raise KnobError(field, "must be a table/object with a 'kind'")
        kind = spec.get("kind", "none")
        if kind not in _KINDS:
            raise KnobError(f"{field}.kind", f"must be one of {sorted(_KINDS)}")
        unknown = set(spec) - _KINDS[kind] - _TAIL - {"kind"}
        if unknown:
            raise KnobError(f"{field}.{sorted(unknown)[0]}", f"unknown key for kind {kind!r}")
        a = b = 0.0
        if kind == "fixed":
            a = _number(spec, "ms", field)
        elif kind == "uniform":
            a, b = _number(spec, "min_ms", field), _number(spec, "max_ms", field)
            if b < a:
                raise KnobError(f"{field}.max_ms", "must be >= min_ms")
        elif kind == "lognormal":
            a, b = _number(spec, "median_ms", field), _number(spec, "sigma", field, 0.0, 5.0)
        tail_prob = _number(spec, "tail_prob", field, 0.0, 1.0) if "tail_prob" in spec else 0.0
        tail_ms = _number(spec, "tail_ms", field) if "tail_ms" in spec else 0.0
        return cls(kind, a, b, tail_prob, tail_ms)

    def to_dict(self) -> dict:
        """The distribution as the dict it was parsed from (canonical keys)."""
        out: dict = {"kind": self.kind}
        if self.kind == "fixed":
            out["ms"] = self.a
        elif self.kind == "uniform":
            out.update(min_ms=self.a, max_ms=self.b)
        elif self.kind == "lognormal":
            out.update(median_ms=self.a, sigma=self.b)
        if self.tail_prob:
            out.update(tail_prob=self.tail_prob, tail_ms=self.tail_ms)
        return out

    @property
    def is_zero(self) -> bool:
        return self.kind == "none" and self.tail_prob == 0.0

    def sample_ms(self, rng: random.Random) -> float:
        """One delay in milliseconds drawn from ``rng`` (capped at 600 s)."""
        if self.kind == "fixed":
            ms = self.a
        elif self.kind == "uniform":
            ms = rng.uniform(self.a, self.b)
        elif self.kind == "lognormal":
            ms = self.a * math.exp(rng.gauss(0.0, self.b)) if self.a > 0 else 0.0
        else:
            ms = 0.0
        if self.tail_prob and rng.random() < self.tail_prob:
            ms += self.tail_ms
        return min(ms, 600_000.0)


NO_LATENCY = LatencyDist()
