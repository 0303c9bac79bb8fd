"""Chunks of requests.csv and journeys.csv reduced to what results.json needs, in bounded memory.

The analysis reads the two files that grow with a run's length in chunks
(:func:`harness.rundir.read.iter_table`) and hands each chunk to :class:`RequestFigures` and
:class:`JourneyFigures`. They keep, per stage, small reductions that combine exactly (counts,
errors by kind, outcome counts, and a :class:`harness.core.streamstats.LatencyScope` per group
of durations), so the figures are the same whatever the chunk size. What they keep grows with
the number of distinct values and of stages, endpoints and journey kinds, not with the number
of rows; the one exception is :attr:`RequestFigures.shop_completions_t_s` (8 bytes per request
to the shop, kept only when the run has platform/metrics.csv: the monitoring delay is an order
statistic of them; 0.2 GB for a day at 300 requests/s).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.core import blocks
from harness.core.streamstats import LatencyScope, ValueCounts
from harness.rundir import schema
from harness.rundir.schema import StageWindow


def block_s(window: StageWindow) -> float:
    """The bootstrap block length of a stage's figures."""
    return blocks.block_length_s(window.steady_s or window.duration_s)


@dataclass
class Availability:
    """Requests counted: how many, how many failed, failures by error kind."""

    count: int = 0
    failures: int = 0
    errors: Counter = field(default_factory=Counter)

    def add(self, ok: np.ndarray, error_kind: pd.Series) -> None:
        """A chunk's ``ok`` flags and error kinds (empty or missing counts as ``unknown``)."""
        self.count += int(ok.size)
        failed = ok == 0
        self.failures += int(failed.sum())
        if failed.any():
            kinds = error_kind[failed].astype(object).fillna("").replace("", "unknown")
            self.errors.update({str(k): int(v) for k, v in kinds.value_counts().items()})

    def block(self) -> dict:
        """``{"count", "failures", "availability", "availability_ci", "errors_by_kind"}``."""
        from harness.core import rates

        figure = rates.rate(self.count - self.failures, self.count)
        return {"count": self.count, "failures": self.failures, "availability": figure.rate,
                "availability_ci": figure.as_dict()["ci"], "errors_by_kind": dict(sorted(self.errors.items()))}


class RequestScope:
    """One scope of a stage's steady requests (all, api, one endpoint): availability and latency."""

    def __init__(self, window: StageWindow) -> None:
        self.availability = Availability()
        self.latency = LatencyScope(window.steady_start_s, block_s(window))

    def add(self, rows: pd.DataFrame) -> None:
        """A chunk's rows of this scope (t_s, response_ms, ok, error_kind)."""
        self.availability.add(rows["ok"].to_numpy(), rows["error_kind"])
        self.latency.add(rows["response_ms"].to_numpy(dtype=float), rows["t_s"].to_numpy())


class StageRequests:
    """One stage's requests: how many (ramp included), and its scopes over the steady ones."""

    def __init__(self, window: StageWindow) -> None:
        self.window = window
        self.in_stage = 0
        self.all = RequestScope(window)
        self.api = RequestScope(window)
        self.endpoints: dict[str, RequestScope] = {}


class RequestFigures:
    """requests.csv (t_s, stage, in_ramp, name, response_ms, ok, status, error_kind) chunk by chunk."""

    def __init__(self, windows: list[StageWindow], keep_shop_completions: bool, expected_rows: int = 0) -> None:
        self.stages = {w.name: StageRequests(w) for w in windows}
        self.count = 0
        self.first_t_s: float | None = None
        self.last_t_s: float | None = None
        self._keep = keep_shop_completions
        # one buffer, sized from the file's expected rows (grown by a quarter if it is short):
        # a list of chunks joined at the end would need twice the memory
        self._completions = np.empty(expected_rows if keep_shop_completions else 0)
        self._kept = 0
        self._sorted = False
        self._api: dict[str, bool] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        """Reduce one chunk."""
        if not len(chunk):
            return
        t_s = chunk["t_s"].to_numpy()
        self.count += len(chunk)
        first, last = float(t_s.min()), float(t_s.max())
        self.first_t_s = first if self.first_t_s is None else min(self.first_t_s, first)
        self.last_t_s = last if self.last_t_s is None else max(self.last_t_s, last)
        if self._keep:
            self._keep_completions(_shop_completions(chunk))
        stage = chunk["stage"]
        steady_rows = chunk["in_ramp"].to_numpy() == 0
        for name, figures in self.stages.items():
            in_stage = (stage == name).to_numpy()
            figures.in_stage += int(in_stage.sum())
            steady = chunk[in_stage & steady_rows]
            if not len(steady):
                continue
            figures.all.add(steady)
            names = steady["name"].astype(object).fillna("").astype(str)
            for endpoint, rows in steady.groupby(names.to_numpy(), sort=False):
                if not endpoint:  # a row without a name counts to the stage, to no endpoint
                    continue
                scope = figures.endpoints.get(endpoint)
                if scope is None:
                    scope = figures.endpoints[endpoint] = RequestScope(figures.window)
                scope.add(rows)
            api = names.map(self._is_api).to_numpy(dtype=bool)
            figures.api.add(steady[api])

    def _is_api(self, name: str) -> bool:
        known = self._api.get(name)
        if known is None:
            known = self._api[name] = schema.is_api_request(name)
        return known

    def _keep_completions(self, part: np.ndarray) -> None:
        needed = self._kept + part.size
        if needed > self._completions.size:
            grown = np.empty(max(needed, int(self._completions.size * 1.25)))
            grown[: self._kept] = self._completions[: self._kept]
            self._completions = grown
        self._completions[self._kept:needed] = part
        self._kept = needed
        self._sorted = False

    @property
    def shop_completions_t_s(self) -> np.ndarray:
        """When each answered request to the shop (not the gateway) completed at the client
        (``t_s + response_ms``), sorted; empty unless kept."""
        kept = self._completions[: self._kept]
        if not self._sorted:
            kept.sort()  # in place
            self._sorted = True
        return kept


def _shop_completions(chunk: pd.DataFrame) -> np.ndarray:
    path = chunk["name"].astype(object).fillna("").astype(str).str.partition(" ")[2]
    answered = chunk["status"].fillna(0).to_numpy() > 0
    shop = answered & ~path.str.startswith("/gateway").to_numpy()
    return chunk["t_s"].to_numpy()[shop] + chunk["response_ms"].fillna(0).to_numpy()[shop] / 1000.0


@dataclass
class JourneyKind:
    """One journey name's steady rows of a stage."""

    latency: LatencyScope
    count: int = 0
    successes: int = 0
    from_intended: ValueCounts = field(default_factory=ValueCounts)
    outcomes: Counter = field(default_factory=Counter)


class StageJourneys:
    """One stage's journeys: arrivals (ramp included) and steady figures per journey kind."""

    def __init__(self, window: StageWindow) -> None:
        self.window = window
        self.scheduled = 0
        self.dropped = 0
        self.started_steady = 0
        self.kinds: dict[str, JourneyKind] = {}
        self.checkouts = self.paid = self.gateway_timeouts = 0
        self.registers = self.registered = self.sms_reentries = 0
        self.product_page = LatencyScope(window.steady_start_s, block_s(window))
        self.sync_lag = LatencyScope(window.steady_start_s, block_s(window))


class JourneyFigures:
    """journeys.csv (name, stage, in_ramp, intended_t_s, duration_ms, from_intended_ms, ok,
    outcome, flags, sync_lag_ms) chunk by chunk."""

    def __init__(self, windows: list[StageWindow]) -> None:
        self.stages = {w.name: StageJourneys(w) for w in windows}
        #: every outcome seen in the file: each journey kind's ``outcomes`` lists them all (0 when
        #: the kind never had it), as a whole-file categorical column does
        self.outcomes_seen: set[str] = set()

    def add(self, chunk: pd.DataFrame) -> None:
        """Reduce one chunk."""
        if not len(chunk):
            return
        self.outcomes_seen.update(str(o) for o in chunk["outcome"].dropna().unique())
        names = chunk["name"].astype(object).fillna("").astype(str).to_numpy()
        outcome = chunk["outcome"].astype(object).fillna("").astype(str).to_numpy()
        steady_rows = chunk["in_ramp"].to_numpy() == 0
        for stage_name, figures in self.stages.items():
            in_stage = (chunk["stage"] == stage_name).to_numpy()
            visits = in_stage & (names == "visit")
            figures.scheduled += int(visits.sum())
            figures.dropped += int((visits & (outcome == "dropped")).sum())
            steady = in_stage & steady_rows
            figures.started_steady += int((steady & (names == "visit") & (outcome != "dropped")).sum())
            if steady.any():
                self._steady(figures, chunk[steady], names[steady], outcome[steady])

    @staticmethod
    def _steady(figures: StageJourneys, rows: pd.DataFrame, names: np.ndarray, outcome: np.ndarray) -> None:
        from harness.core.journeystats import has_flag

        intended = rows["intended_t_s"].to_numpy()
        duration = rows["duration_ms"].to_numpy(dtype=float)
        ok = rows["ok"].to_numpy()
        for name in np.unique(names):
            mine = names == name
            kind = figures.kinds.get(name)
            if kind is None:
                kind = figures.kinds[name] = JourneyKind(LatencyScope(figures.window.steady_start_s,
                                                                      block_s(figures.window)))
            kind.count += int(mine.sum())
            kind.successes += int(ok[mine].sum())
            kind.latency.add(duration[mine], intended[mine])
            kind.from_intended.add(rows["from_intended_ms"].to_numpy(dtype=float)[mine])
            kind.outcomes.update(Counter(outcome[mine].tolist()))
        checkout = names == "checkout"
        register = names == "register"
        figures.checkouts += int(checkout.sum())
        figures.paid += int((checkout & (outcome == "paid")).sum())
        figures.gateway_timeouts += int(has_flag(rows["flags"][checkout], "gateway_timeout").sum())
        figures.registers += int(register.sum())
        figures.registered += int((register & (outcome == "registered")).sum())
        figures.sms_reentries += int(has_flag(rows["flags"][register], "sms_reentry").sum())
        product = names == "product_page"
        figures.product_page.add(duration[product], intended[product])
        lag = rows["sync_lag_ms"].to_numpy(dtype=float)
        lagged = checkout & ~np.isnan(lag)
        figures.sync_lag.add(lag[lagged], intended[lagged])

    def outcome_counts(self, kind: JourneyKind) -> dict[str, int]:
        """The kind's outcome counts over every outcome seen in the file, most frequent first."""
        counts = {o: kind.outcomes.get(o, 0) for o in self.outcomes_seen}
        counts.update({o: c for o, c in kind.outcomes.items() if o not in counts})
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
