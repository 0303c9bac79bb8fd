"""Success rates with exact (Clopper-Pearson) confidence intervals.

Used for availability (requests that did not fail / requests), journey success rates and the
business rates (payment success, timeouts, registration completion). Clopper-Pearson is
conservative: its coverage is at least the nominal level for every n, which is what a verdict
needs ("100% of 200 requests" is not proof of 99.9%).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import beta


@dataclass(frozen=True)
class Rate:
    """k successes out of n trials, with a two-sided exact interval (fractions in [0, 1])."""

    k: int
    n: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        """The ``{"rate", "ci", "n", "k"}`` shape results.json uses."""
        ci = None if self.ci_low is None else [self.ci_low, self.ci_high]
        return {"rate": self.rate, "ci": ci, "n": self.n, "k": self.k}


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact two-sided ``confidence`` interval for a binomial proportion k/n.

    Lower bound Beta(alpha/2; k, n-k+1), upper bound Beta(1-alpha/2; k+1, n-k), with 0 and 1
    at the edges (k = 0, k = n). Raises ValueError when n < 1 or k is outside 0..n.
    """
    if n < 1:
        raise ValueError(f"a rate needs at least one trial, got n={n}")
    if not 0 <= k <= n:
        raise ValueError(f"successes must be within 0..n, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2.0, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1.0 - alpha / 2.0, k + 1, n - k))
    return low, high


def rate(k: int, n: int, confidence: float = 0.95) -> Rate:
    """k/n with its Clopper-Pearson interval; rate and interval are None when n == 0."""
    if n == 0:
        return Rate(0, 0, None, None, None)
    low, high = clopper_pearson(k, n, confidence)
    return Rate(int(k), int(n), k / n, low, high)
