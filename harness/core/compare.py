"""Baseline comparison statistics: is the candidate run worse than the baseline, and by how much?

Pure: plain arrays in, frozen records out; the random generator is passed in, nothing reads a
clock, a file or a process.

How a change is judged (per stage × endpoint/journey × metric):

1. The point estimate is exact: ``delta = metric(candidate) - metric(baseline)`` on all samples.
2. Its uncertainty comes from a bootstrap over *time blocks*, not single requests. Requests close
   in time share a machine state (a GC pause, a noisy neighbour, a warm cache), so resampling
   requests one by one treats correlated samples as independent and makes intervals too narrow:
   the classic source of flaky regression gates. Each run's samples are cut into consecutive
   blocks of ``block_s`` seconds and whole blocks are resampled, per run, independently.
   Percentiles of a replicate are read from per-block log-spaced histograms (0.1% wide bins)
   so a replicate costs a matrix product, not a sort: the block bootstrap of
   :mod:`harness.core.blocks`, the same as results.json's intervals.
3. The decision interval is ``delta ± z·se_boot`` with ``z`` for a *family-wise* confidence
   level: Bonferroni over every metric compared in the pair (``m`` of them), so that a pair of
   runs with 50 endpoints × 3 stages × 4 metrics does not produce a false alarm with a
   probability of 1 - 0.975^600. Bonferroni rather than Holm because it gives simultaneous
   intervals that can be shown as they are; Holm would only rescue real regressions that are
   barely significant, and those are below the practical minimum anyway in most cases.
4. Statistical clarity is not enough: a change counts only past a *practical minimum*
   (``max(5% of the baseline, 10 ms)`` for latency, by default): regression when the whole
   interval lies beyond it on the worse side, improvement when beyond it on the better side,
   equivalent when the whole interval lies inside the band, inconclusive otherwise. For an
   inconclusive result, ``detectable`` is the smallest true worsening this pair would have
   flagged 80% of the time: ``threshold + (z + z_0.8)·se``.
5. Too little data is inconclusive, never a verdict: fewer than ``MIN_SAMPLES`` samples or
   ``MIN_BLOCKS`` blocks in either run, or fewer than ``MIN_TAIL_SAMPLES`` samples beyond a
   percentile (a P99 needs 500 samples).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from harness.core import blocks
from harness.core.practical import DEFAULT_PRACTICAL, PracticalMinimum, parse_practical  # noqa: F401

REGRESSION = "regression"
IMPROVEMENT = "improvement"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"

MIN_SAMPLES = 20
MIN_BLOCKS = blocks.MIN_BLOCKS
MIN_TAIL_SAMPLES = 5
POWER_Z = NormalDist().inv_cdf(0.80)

PERCENTILES = {"p50_ms": 50.0, "p95_ms": 95.0, "p99_ms": 99.0}


@dataclass(frozen=True)
class Samples:
    """One run's samples of one group: start times (epoch s), durations (ms, NaN if none), ok flags."""

    t_s: np.ndarray
    response_ms: np.ndarray
    ok: np.ndarray

    @classmethod
    def of(cls, t_s, response_ms, ok) -> Samples:
        """Build from any sequences (float seconds, float ms, truthy ok)."""
        return cls(np.asarray(t_s, dtype=float), np.asarray(response_ms, dtype=float),
                   np.asarray(ok, dtype=bool))


@dataclass(frozen=True)
class GrowthFigure:
    """A memory growth estimate with its 95% interval, in bytes per hour."""

    growth_bytes_per_hour: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class GroupKey:
    """What is compared: a stage, a kind (``endpoint``, ``journey``, ``scope``, ``memory``,
    ``benchmark``) and a name."""

    stage: str
    kind: str
    name: str


@dataclass(frozen=True)
class Estimate:
    """An un-judged difference: point values, bootstrap standard errors, sample counts."""

    key: GroupKey
    metric: str
    family: str  # which PracticalMinimum applies
    higher_is_worse: bool
    baseline: float
    candidate: float
    se: float  # standard error of candidate - baseline, metric's unit
    relative_se: float  # standard error of candidate / baseline - 1
    n_baseline: int
    n_candidate: int
    note: str = ""  # non-empty: not enough data to judge, says why
    dof: float = math.inf  # degrees of freedom of ``se`` (blocks - 1 for a block bootstrap)

    @property
    def delta(self) -> float:
        return self.candidate - self.baseline

    @property
    def relative_delta(self) -> float:
        return self.delta / self.baseline if self.baseline else math.nan


@dataclass(frozen=True)
class MetricComparison:
    """A judged difference. ``ci`` is the family-wise interval of ``delta`` the decision used."""

    key: GroupKey
    metric: str
    baseline: float
    candidate: float
    delta: float
    ci: tuple[float, float]
    relative_delta: float
    relative_ci: tuple[float, float]
    threshold: float
    detectable: float
    classification: str
    n_baseline: int
    n_candidate: int
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """Every judged metric of a pair of runs, and what could not be paired."""

    metrics: list[MetricComparison]
    family_size: int
    confidence: float
    only_in_baseline: list[GroupKey] = field(default_factory=list)
    only_in_candidate: list[GroupKey] = field(default_factory=list)

    def count(self, classification: str) -> int:
        """How many metrics got this classification."""
        return sum(m.classification == classification for m in self.metrics)

    @property
    def regressed(self) -> bool:
        return self.count(REGRESSION) > 0


def could_regress(m: MetricComparison) -> bool:
    """Inconclusive, with an interval that reaches past the practical minimum on the worse side:
    a regression this pair cannot exclude (what ``--strict`` fails on). Metrics without enough
    data to estimate are not counted: they are reported as skipped with their note."""
    if m.classification != INCONCLUSIVE or m.note or not math.isfinite(m.ci[0]):
        return False
    worse_end = m.ci[1] if m.metric != "availability" else -m.ci[0]
    return worse_end > m.threshold


def family_z(confidence: float, family_size: int, dof: float = math.inf) -> float:
    """Two-sided quantile for a Bonferroni family-wise level over ``family_size`` tests: normal,
    or Student's t when the standard error rests on ``dof`` degrees of freedom (a bootstrap over
    20 blocks knows its own spread only roughly, and an A/A pair must not pay for that)."""
    alpha = (1.0 - confidence) / max(family_size, 1)
    return student_quantile(1.0 - alpha / 2.0, dof)


def student_quantile(p: float, dof: float) -> float:
    """Student's t quantile: the Cornish-Fisher expansion from the normal one for 9 or more
    degrees of freedom (within 0.3% there), scipy below (importing scipy costs seconds)."""
    z = NormalDist().inv_cdf(p)
    if not math.isfinite(dof):
        return z
    if dof < 9:
        from scipy.stats import t as student_t

        return float(student_t.ppf(p, max(dof, 1.0)))
    v = dof
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))


#: Default block length (s) of a stage's span: about 20 blocks, 1..10 s (the block rule of
#: harness.core.blocks, the one block bootstrap).
auto_block_s = blocks.block_length_s


def _replicate_se(base_reps: np.ndarray, cand_reps: np.ndarray) -> tuple[float, float]:
    """Standard errors of the difference and of the ratio - 1 of independent replicates."""
    se = float(np.std(cand_reps - base_reps, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cand_reps / base_reps - 1.0
    ratio = ratio[np.isfinite(ratio)]
    return se, float(np.std(ratio, ddof=1)) if ratio.size > 1 else math.nan


def estimate_samples(key: GroupKey, baseline: Samples, candidate: Samples, *,
                     rng: np.random.Generator, block_s: float, n_boot: int = 400) -> list[Estimate]:
    """P50/P95/P99 (ms) and availability estimates of one group, block-bootstrapped.

    ``block_s``: block length in seconds. Latency uses samples with a finite ``response_ms``;
    availability uses every sample (a dropped arrival counts as a failure with no duration).
    """
    estimates: list[Estimate] = []
    runs = []
    for samples in (baseline, candidate):
        ids = blocks.dense_block_ids(samples.t_s, block_s)
        runs.append((samples, ids, int(ids.max()) + 1 if ids.size else 0))
    n_b, n_c = baseline.ok.size, candidate.ok.size
    short = next((f"{label} has {n} samples in {nb} blocks (need {MIN_SAMPLES} in {MIN_BLOCKS})"
                  for label, (s, _, nb), n in zip(("baseline", "candidate"), runs, (n_b, n_c), strict=True)
                  if n < MIN_SAMPLES or nb < MIN_BLOCKS), "")
    weights = [blocks.block_weights(rng, max(nb, 1), n_boot) for _, _, nb in runs]
    # The bootstrap over nb blocks understates the variance by (nb-1)/nb; its spread is known
    # with about nb-1 degrees of freedom.
    min_blocks = min(nb for _, _, nb in runs)
    dof = float(max(min_blocks - 1, 1))
    inflate = math.sqrt(min_blocks / (min_blocks - 1)) if min_blocks > 1 else 1.0

    # Latency percentiles.
    timed = [np.isfinite(s.response_ms) for s, _, _ in runs]
    lat = [np.maximum(s.response_ms[m], 1e-3) for (s, _, _), m in zip(runs, timed, strict=True)]
    lat_blocks = [b[m] for (_, b, _), m in zip(runs, timed, strict=True)]
    both = np.concatenate(lat) if all(v.size for v in lat) else np.zeros(0)
    replicates = None
    if both.size and not short:
        replicates = []
        for v, b, w, (_, _, nb) in zip(lat, lat_blocks, weights, runs, strict=True):
            stats = blocks.weighted_statistics(blocks.block_table(v, b, n_blocks=nb), w, tuple(PERCENTILES.values()))
            replicates.append(np.array([stats[f"p{q:g}"] for q in PERCENTILES.values()]))
    for i, (metric, q) in enumerate(PERCENTILES.items()):
        note = short
        if not both.size:
            note = note or "no timed samples in one of the runs"
        tail = min(v.size for v in lat) * (100.0 - q) / 100.0 if both.size else 0
        if not note and tail < MIN_TAIL_SAMPLES:
            note = f"too few samples for {metric[:3].upper()} ({min(v.size for v in lat)} timed)"
        point = [float(np.percentile(v, q)) if v.size else math.nan for v in lat]
        se = rel_se = math.nan
        if not note and replicates is not None:
            se, rel_se = _replicate_se(replicates[0][i], replicates[1][i])
            se, rel_se = se * inflate, rel_se * inflate
        estimates.append(Estimate(key, metric, "latency", True, point[0], point[1], se, rel_se,
                                  lat[0].size, lat[1].size, note, dof))

    # Availability: ratio of weighted sums per block; a binomial floor on the standard error so
    # that zero failures in a short run does not read as "availability known exactly".
    point, reps, floors = [], [], []
    for (samples, ids, nb), w in zip(runs, weights, strict=True):
        n = samples.ok.size
        fails = int(n - samples.ok.sum())
        point.append(1.0 - fails / n if n else math.nan)
        if n and not short:
            ok_per_block = np.bincount(ids, weights=samples.ok.astype(float), minlength=nb)
            n_per_block = np.bincount(ids, minlength=nb).astype(float)
            reps.append((w @ ok_per_block) / (w @ n_per_block))
            p_fail = (fails + 1.0) / (n + 2.0)
            floors.append(p_fail * (1.0 - p_fail) / n)
    se = rel_se = math.nan
    if len(reps) == 2:
        se, rel_se = _replicate_se(reps[0], reps[1])
        se *= inflate
        floor = math.sqrt(sum(floors))
        se = max(se, floor)
        rel_se = se / max(point[0], 1e-9)
    estimates.append(Estimate(key, "availability", "availability", False, point[0], point[1], se,
                              rel_se, n_b, n_c, short, dof))
    return estimates


def estimate_growth(baseline: GrowthFigure, candidate: GrowthFigure) -> Estimate:
    """Δ memory growth (bytes/hour); the standard error combines each run's 95% interval.

    Each run's interval comes from the memory estimator (itself a bootstrap over time); the
    two runs are independent, so their standard errors add in quadrature.
    """
    def se_of(g: GrowthFigure) -> float:
        return abs(g.ci_high - g.ci_low) / (2.0 * 1.959964)

    se = math.hypot(se_of(baseline), se_of(candidate))
    base = baseline.growth_bytes_per_hour
    rel_se = se / abs(base) if base else math.nan
    return Estimate(GroupKey("run", "memory", "platform"), "growth_bytes_per_hour", "memory", True,
                    base, candidate.growth_bytes_per_hour, se, rel_se, 1, 1)


def judge(estimate: Estimate, *, z: float, practical: PracticalMinimum) -> MetricComparison:
    """Classify one estimate with the family-wise ``z`` and the practical minimum that applies."""
    delta = estimate.delta
    threshold = practical.threshold(estimate.baseline) if math.isfinite(estimate.baseline) else math.nan
    usable = not estimate.note and math.isfinite(estimate.se) and math.isfinite(delta)
    if not usable:
        nan2 = (math.nan, math.nan)
        return MetricComparison(estimate.key, estimate.metric, estimate.baseline, estimate.candidate,
                                delta, nan2, estimate.relative_delta, nan2, threshold, math.nan,
                                INCONCLUSIVE, estimate.n_baseline, estimate.n_candidate,
                                estimate.note or "no estimate of uncertainty")
    half = z * estimate.se
    ci = (delta - half, delta + half)
    rel_half = z * estimate.relative_se if math.isfinite(estimate.relative_se) else math.nan
    rel = estimate.relative_delta
    relative_ci = (rel - rel_half, rel + rel_half)
    sign = 1.0 if estimate.higher_is_worse else -1.0
    harm_lo, harm_hi = sorted((sign * ci[0], sign * ci[1]))
    if harm_lo > threshold:
        verdict = REGRESSION
    elif harm_hi < -threshold:
        verdict = IMPROVEMENT
    elif -threshold <= harm_lo and harm_hi <= threshold:
        verdict = EQUIVALENT
    else:
        verdict = INCONCLUSIVE
    detectable = threshold + (z + POWER_Z) * estimate.se
    return MetricComparison(estimate.key, estimate.metric, estimate.baseline, estimate.candidate,
                            delta, ci, rel, relative_ci, threshold, detectable, verdict,
                            estimate.n_baseline, estimate.n_candidate)


def judge_all(estimates: list[Estimate], *, confidence: float = 0.95,
              practical: Mapping[str, PracticalMinimum] | None = None,
              only_in_baseline=(), only_in_candidate=()) -> Comparison:
    """Judge a family of estimates together (Bonferroni over those that could be estimated)."""
    rules = {**DEFAULT_PRACTICAL, **(practical or {})}
    family = max(1, sum(not e.note for e in estimates))
    metrics = [judge(e, z=math.nan if e.note else family_z(confidence, family, e.dof), practical=rules[e.family])
               for e in estimates]
    return Comparison(metrics, family, confidence, list(only_in_baseline), list(only_in_candidate))


def compare_runs(baseline: Mapping[GroupKey, Samples], candidate: Mapping[GroupKey, Samples], *,
                 rng: np.random.Generator, practical: Mapping[str, PracticalMinimum] | None = None,
                 confidence: float = 0.95, n_boot: int = 400, block_s: float | None = None,
                 growth: tuple[GrowthFigure, GrowthFigure] | None = None) -> Comparison:
    """Compare two runs group by group; see the module docstring for the rules.

    ``baseline``/``candidate`` map a group to its samples; ``block_s`` (s) defaults to
    :func:`auto_block_s` of each stage's span; ``growth`` is (baseline, candidate) memory growth.
    """
    shared = [k for k in baseline if k in candidate]
    estimates: list[Estimate] = []
    spans: dict[str, float] = {}
    for key in shared:
        for s in (baseline[key], candidate[key]):
            if s.t_s.size:
                spans[key.stage] = max(spans.get(key.stage, 0.0), float(np.ptp(s.t_s)))
    for key in shared:
        block = block_s if block_s is not None else auto_block_s(spans.get(key.stage, 0.0))
        estimates.extend(estimate_samples(key, baseline[key], candidate[key], rng=rng,
                                          block_s=block, n_boot=n_boot))
    if growth is not None:
        estimates.append(estimate_growth(*growth))
    return judge_all(estimates, confidence=confidence, practical=practical,
                     only_in_baseline=[k for k in baseline if k not in candidate],
                     only_in_candidate=[k for k in candidate if k not in baseline])
