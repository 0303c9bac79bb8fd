"""requests.csv and journeys.csv reduced per window of the report's time axis, chunk by chunk.

requests.csv and journeys.csv are never held whole: :class:`SeriesBuilder` takes them in chunks
(harness.report.rundata reads them) and reduces each chunk into a :class:`ReportSeries`, in memory
that grows with the number of windows (a day: 17,280) and of distinct visitors, not of rows. Every
figure is exact and does not depend on the chunk size:

- counts per window (requests, arrivals intended / started / dropped, failures by kind) and the
  outcome and flag counts are sums;
- the per-window percentiles (request P50/P95/P99, journey P95 service and from intended start,
  visit start delay P95 and max) are the values ``pandas.Series.quantile`` gives over the
  window's rows (linear interpolation between order statistics), to the bit: a first pass counts
  values per (window, 1/8-octave bin), a second keeps only the values in the bins that hold the
  wanted order statistics (harness.report.windowstats.WindowQuantiles);
- the funnel's distinct visitors per step are distinct 64-bit hashes of visit_id: exact unless two
  different visit_ids of one step share a hash (probability below N^2 / 2^65 for N visitors: below
  1.2e-6 for a day's 6.5 million), which would count them as one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.series import FUNNEL_STEPS, WINDOW_S
from harness.report.windowstats import DistinctKeys, KeyCounts, WindowQuantiles


def window_ids(t_s: np.ndarray, t0_s: float) -> np.ndarray:
    """Each time's window, as an integer: window k is [k * WINDOW_S, (k + 1) * WINDOW_S) from t0."""
    return np.floor((np.asarray(t_s, dtype=np.float64) - t0_s) / WINDOW_S).astype(np.int64)


def _labels(ids: np.ndarray) -> pd.Index:
    """Window ids as the charts' index: each window's start offset in seconds."""
    return pd.Index(np.asarray(ids, dtype=np.int64) * WINDOW_S, dtype=np.float64, name="window_s")


def _counted(counts: KeyCounts) -> pd.Series:
    keys, values = counts.result()
    return pd.Series(values, index=_labels(keys), dtype=np.int64)


def _text(column: pd.Series) -> pd.Series:
    """A category or string column as plain Python objects (NaN stays NaN), comparable across chunks."""
    return column.astype(object)


#: Columns the second pass reads (the values whose per-window percentiles the charts show).
REQUEST_VALUE_COLUMNS = ["t_s", "response_ms"]
JOURNEY_VALUE_COLUMNS = ["name", "intended_t_s", "start_t_s", "duration_ms", "from_intended_ms"]
LATENCY_QUANTILES = (0.50, 0.95, 0.99)


@dataclass
class ReportSeries:
    """What the report draws from requests.csv and journeys.csv, reduced while they were read:
    per-window frames (index ``window_s``: the window's start, seconds from t0) and small tables,
    never the rows. Built by :class:`SeriesBuilder`.

    - ``latency``: per window of request time, ``n`` (requests) and ``p50_ms``/``p95_ms``/``p99_ms``
      of response_ms over the window's requests with a value (failures and ramps included);
    - ``window_counts``: per window, ``intended`` (visits by intended start), ``achieved`` (visits
      by actual start), ``dropped`` (visits dropped, by intended start) and ``requests`` (by time);
    - ``errors``: failed requests per window (rows) and error_kind (columns, sorted; "" is "unknown");
    - ``journey_windows``: per window of intended start, P95 of duration_ms and of from_intended_ms
      of the timed journeys (not visits, with a duration);
    - ``start_delay``: per window of intended start, P95 and max of (start - intended) of the
      visits that started, in ms;
    - ``funnel``: distinct visitors per funnel step; ``outcomes``: per journey name, the count,
      outcome counts and flag counts.

    Every percentile is exact: the one ``pandas.Series.quantile`` (linear interpolation) gives for
    the window's values (harness.report.windowstats.WindowQuantiles).
    """

    request_rows: int
    journey_rows: int
    first_request_t_s: float | None
    last_request_t_s: float | None
    latency: pd.DataFrame
    window_counts: pd.DataFrame
    errors: pd.DataFrame
    journey_windows: pd.DataFrame
    start_delay: pd.DataFrame
    funnel: list[tuple[str, int]]
    outcomes: list[dict]


class SeriesBuilder:
    """:class:`ReportSeries` from requests.csv and journeys.csv handed over in chunks, in two passes.

    Pass 1: every row of both files (:meth:`add_requests`, :meth:`add_journeys`): counts per
    window, failures by kind, the funnel's visitors (64-bit hashes of visit_id, see
    :meth:`add_journeys`), outcomes and flags, and for each percentile series the count of values
    per (window, coarse bin). Pass 2, only when :attr:`wants_values`: the same rows again, their
    ``REQUEST_VALUE_COLUMNS`` / ``JOURNEY_VALUE_COLUMNS`` (:meth:`gather_requests`,
    :meth:`gather_journeys`), of which only the values next to a wanted percentile are kept.
    Memory grows with the number of windows and of distinct visitors, not with the rows; the
    result does not depend on how the rows were cut into chunks.
    """

    def __init__(self, t0_s: float) -> None:
        self.t0_s = t0_s
        self._request_rows = self._journey_rows = 0
        self._first_t_s: float | None = None
        self._last_t_s: float | None = None
        self._requests = KeyCounts()
        self._latency = WindowQuantiles(LATENCY_QUANTILES)
        self._kinds: dict[str, int] = {}
        self._failures = KeyCounts()  # window << _KIND_BITS | kind code
        self._arrivals = {name: KeyCounts() for name in ("intended", "achieved", "dropped")}
        self._timed = KeyCounts()
        self._service = WindowQuantiles((0.95,))
        self._from_intended = WindowQuantiles((0.95,))
        self._delay = WindowQuantiles((0.95, 1.0))  # the maximum is the quantile 1
        self._visitors = {step: DistinctKeys() for step in FUNNEL_STEPS}
        self._outcomes: dict[str, dict] = {}
        self._outcome_values: set[str] = set()

    # --- pass 1 ------------------------------------------------------------------------------
    def add_requests(self, chunk: pd.DataFrame) -> None:
        """Pass 1: a chunk of requests.csv (at least t_s, response_ms, ok, error_kind)."""
        if not len(chunk):
            return
        t_s = chunk["t_s"].to_numpy(dtype=np.float64)
        self._request_rows += len(chunk)
        low, high = float(t_s.min()), float(t_s.max())
        self._first_t_s = low if self._first_t_s is None else min(self._first_t_s, low)
        self._last_t_s = high if self._last_t_s is None else max(self._last_t_s, high)
        windows = window_ids(t_s, self.t0_s)
        self._requests.add(windows)
        self._latency.count(windows, chunk["response_ms"].to_numpy(dtype=np.float64))
        failed = (chunk["ok"] == 0).to_numpy()
        if failed.any():
            kinds = _text(chunk["error_kind"][failed]).fillna("").replace("", "unknown")
            codes = np.array([self._kinds.setdefault(str(k), len(self._kinds)) for k in kinds], dtype=np.int64)
            self._failures.add((windows[failed] << _KIND_BITS) | codes)

    def add_journeys(self, chunk: pd.DataFrame) -> None:
        """Pass 1: a chunk of journeys.csv (all the columns the report reads).

        A funnel step's visitors are counted as the distinct 64-bit hashes of their visit_id
        (``pandas.util.hash_pandas_object``: SipHash, fixed key): exact unless two different
        visit_ids of one step share a hash, which for N visitors has a probability below
        N² / 2^65 (6.5 million visitors, a day at 75 visits/s: below 1.2e-6) and then counts them
        as one.
        """
        if not len(chunk):
            return
        self._journey_rows += len(chunk)
        names, outcome = _text(chunk["name"]), _text(chunk["outcome"])
        visit = (names == "visit").to_numpy()
        intended = chunk["intended_t_s"].to_numpy(dtype=np.float64)
        start = chunk["start_t_s"].to_numpy(dtype=np.float64)
        dropped = (outcome == "dropped").to_numpy()
        self._arrivals["intended"].add(window_ids(intended[visit], self.t0_s))
        started = visit & ~np.isnan(start)
        self._arrivals["achieved"].add(window_ids(start[started], self.t0_s))
        self._arrivals["dropped"].add(window_ids(intended[visit & dropped], self.t0_s))
        for target, windows, values in self._journey_values(chunk):
            target.count(windows, values)
        self._timed.add(window_ids(intended[self._timed_mask(chunk)], self.t0_s))
        ids = chunk["visit_id"]
        checkout = (names == "checkout").to_numpy()
        for step, rows in (("visits", visit & ~dropped), ("cart", (names == "cart").to_numpy()),
                           ("checkout", checkout), ("paid", checkout & (outcome == "paid").to_numpy())):
            if rows.any():
                self._visitors[step].add(pd.util.hash_pandas_object(ids[rows], index=False).to_numpy())
        self._add_outcomes(names, outcome, chunk["flags"])

    def _add_outcomes(self, names: pd.Series, outcome: pd.Series, flags: pd.Series) -> None:
        named = names.notna()
        frame = pd.DataFrame({"name": names[named], "outcome": outcome[named].fillna(""),
                              "flags": flags[named].fillna("")})
        for (name, value), count in frame.groupby(["name", "outcome"], sort=False).size().items():
            row = self._outcomes.setdefault(str(name), {"count": 0, "outcomes": {}, "flags": {}})
            row["count"] += int(count)
            row["outcomes"][str(value)] = row["outcomes"].get(str(value), 0) + int(count)
            self._outcome_values.add(str(value))
        flagged = frame[frame["flags"] != ""]
        if len(flagged):
            each = flagged.assign(flag=flagged["flags"].str.split(";")).explode("flag")
            each = each[each["flag"] != ""]
            for (name, flag), count in each.groupby(["name", "flag"], sort=False).size().items():
                counts = self._outcomes[str(name)]["flags"]
                counts[str(flag)] = counts.get(str(flag), 0) + int(count)

    @staticmethod
    def _timed_mask(chunk: pd.DataFrame) -> np.ndarray:
        """The journeys whose time the coordinated-omission chart shows: not visits (a visit is a
        whole session, minutes of reading), with a duration."""
        return ((_text(chunk["name"]) != "visit") & chunk["duration_ms"].notna()).to_numpy()

    def _journey_values(self, chunk: pd.DataFrame) -> list[tuple[WindowQuantiles, np.ndarray, np.ndarray]]:
        intended = chunk["intended_t_s"].to_numpy(dtype=np.float64)
        start = chunk["start_t_s"].to_numpy(dtype=np.float64)
        timed = self._timed_mask(chunk)
        timed_windows = window_ids(intended[timed], self.t0_s)
        started = (_text(chunk["name"]) == "visit").to_numpy() & ~np.isnan(start)
        delay_ms = (start[started] - intended[started]) * 1000.0
        return [(self._service, timed_windows, chunk["duration_ms"].to_numpy(dtype=np.float64)[timed]),
                (self._from_intended, timed_windows, chunk["from_intended_ms"].to_numpy(dtype=np.float64)[timed]),
                (self._delay, window_ids(intended[started], self.t0_s), delay_ms)]

    # --- pass 2 ------------------------------------------------------------------------------
    @property
    def wants_values(self) -> bool:
        """Whether pass 2 is needed (some percentile series has values)."""
        return any(q.wants_values for q in (self._latency, self._service, self._from_intended, self._delay))

    @property
    def rows(self) -> tuple[int, int]:
        """(requests, journeys) rows seen in pass 1: pass 2 must hand over the same rows."""
        return self._request_rows, self._journey_rows

    def gather_requests(self, chunk: pd.DataFrame) -> None:
        """Pass 2: a chunk of requests.csv's ``REQUEST_VALUE_COLUMNS``."""
        if len(chunk):
            self._latency.gather(window_ids(chunk["t_s"].to_numpy(dtype=np.float64), self.t0_s),
                                 chunk["response_ms"].to_numpy(dtype=np.float64))

    def gather_journeys(self, chunk: pd.DataFrame) -> None:
        """Pass 2: a chunk of journeys.csv's ``JOURNEY_VALUE_COLUMNS``."""
        if len(chunk):
            for target, windows, values in self._journey_values(chunk):
                target.gather(windows, values)

    # --- result ------------------------------------------------------------------------------
    def finish(self) -> ReportSeries:
        """The series of every row handed over (pass 2 done, when :attr:`wants_values`)."""
        visitors = {step: keys.count() for step, keys in self._visitors.items()}
        return ReportSeries(
            request_rows=self._request_rows, journey_rows=self._journey_rows,
            first_request_t_s=self._first_t_s, last_request_t_s=self._last_t_s,
            latency=self._latency_frame(), window_counts=self._window_counts(), errors=self._error_table(),
            journey_windows=self._journey_frame(), start_delay=self._delay_frame(),
            funnel=[(step, int(visitors[step])) for step in FUNNEL_STEPS],
            outcomes=self._outcome_rows())

    def _outcome_rows(self) -> list[dict]:
        # every outcome value of the file is listed for every journey name, 0 where it did not occur
        # (as the report always showed them: the whole file's outcome categories)
        values = sorted(self._outcome_values)
        return [{"name": name, "count": row["count"], "outcomes": {v: row["outcomes"].get(v, 0) for v in values},
                 "flags": dict(sorted(row["flags"].items()))} for name, row in sorted(self._outcomes.items())]

    @staticmethod
    def _quantiles(target: WindowQuantiles, index: pd.Index) -> dict[float, pd.Series]:
        windows, values = target.result()
        return {q: pd.Series(v, index=_labels(windows), dtype=np.float64).reindex(index) for q, v in values.items()}

    def _latency_frame(self) -> pd.DataFrame:
        n = _counted(self._requests)
        if not len(n):
            return pd.DataFrame(columns=["n", "p50_ms", "p95_ms", "p99_ms"])
        quantiles = self._quantiles(self._latency, n.index)
        return pd.DataFrame({"n": n, "p50_ms": quantiles[0.50], "p95_ms": quantiles[0.95], "p99_ms": quantiles[0.99]})

    def _window_counts(self) -> pd.DataFrame:
        parts = {name: _counted(counts) for name, counts in self._arrivals.items()}
        parts["requests"] = _counted(self._requests)
        frame = pd.DataFrame({k: v for k, v in parts.items() if len(v)})
        frame = frame.reindex(columns=list(parts)).fillna(0).astype(np.int64).sort_index()
        frame.index.name = "window_s"
        return frame

    def _error_table(self) -> pd.DataFrame:
        keys, counts = self._failures.result()
        if not keys.size:
            return pd.DataFrame()
        names = np.array(sorted(self._kinds, key=self._kinds.__getitem__), dtype=object)
        long = pd.DataFrame({"window_s": _labels(keys >> _KIND_BITS), "error_kind": names[keys & _KIND_MASK],
                             "count": counts})
        table = long.pivot_table(index="window_s", columns="error_kind", values="count", aggfunc="sum",
                                 fill_value=0).astype(np.int64)
        return table.reindex(sorted(table.columns), axis=1)

    def _journey_frame(self) -> pd.DataFrame:
        index = _counted(self._timed).index
        if not len(index):
            return pd.DataFrame(columns=["service_p95_ms", "from_intended_p95_ms"])
        return pd.DataFrame({"service_p95_ms": self._quantiles(self._service, index)[0.95],
                             "from_intended_p95_ms": self._quantiles(self._from_intended, index)[0.95]})

    def _delay_frame(self) -> pd.DataFrame:
        windows, values = self._delay.result()
        if not windows.size:
            return pd.DataFrame(columns=["p95_ms", "max_ms"])
        return pd.DataFrame({"p95_ms": values[0.95], "max_ms": values[1.0]}, index=_labels(windows))


_KIND_BITS = 20  # error kinds per run: far fewer than 2^20
_KIND_MASK = (1 << _KIND_BITS) - 1


def series_of(requests: pd.DataFrame, journeys: pd.DataFrame, t0_s: float, chunk_rows: int | None = None
              ) -> ReportSeries:
    """:class:`ReportSeries` of whole frames (``chunk_rows``: hand them over in chunks of that many rows)."""
    builder = SeriesBuilder(t0_s)

    def chunks(frame: pd.DataFrame) -> list[pd.DataFrame]:
        step = chunk_rows or max(len(frame), 1)
        return [frame.iloc[i:i + step] for i in range(0, len(frame), step)]

    for chunk in chunks(requests):
        builder.add_requests(chunk)
    for chunk in chunks(journeys):
        builder.add_journeys(chunk)
    if builder.wants_values:
        for chunk in chunks(requests):
            builder.gather_requests(chunk)
        for chunk in chunks(journeys):
            builder.gather_journeys(chunk)
    return builder.finish()


