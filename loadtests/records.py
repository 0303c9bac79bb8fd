"""The recorder's core: request/journey rows, exact HDR histograms, and the run-directory writer.

Plain Python (no Locust, no gevent), so it can be benchmarked and tested on its own;
``loadtests/recorder.py`` wires it to Locust's events. Columns and files follow
docs/run-directory.md.

Three roles:
- local runner: a :class:`Recorder` whose rows go straight to a :class:`RunWriter`;
- worker: a :class:`Recorder` that buffers rows and HDR histogram deltas for
  :meth:`Recorder.take_report` (sent to the master with Locust's ``report_to_master``);
- master: a :class:`RunWriter` that :meth:`RunWriter.absorb` s the workers' reports.

Every response time goes into the row and the histogram as the same whole number of
microseconds, so percentiles from the histograms equal those recomputed from requests.csv.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.rundir import schema
from loadtests.ceiling import CEILING

REQUEST_COLUMNS = tuple(schema.REQUESTS.columns)  # the run directory's schema names them once
JOURNEY_COLUMNS = tuple(schema.JOURNEYS.columns)
HISTOGRAM_LOWEST_US = 1
HISTOGRAM_HIGHEST_US = 3_600_000_000  # one hour
HISTOGRAM_DIGITS = 3
# Exit code of a Locust process whose recorder could not write the run directory (EX_IOERR).
RECORDING_FAILED_EXIT = 74


def new_histogram() -> HdrHistogram:
    """An empty histogram as the contract fixes it: microseconds, 1 us .. 1 h, 3 significant digits."""
    return HdrHistogram(HISTOGRAM_LOWEST_US, HISTOGRAM_HIGHEST_US, HISTOGRAM_DIGITS)


def to_us(duration_ms: float) -> int:
    """A duration in ms as the whole microseconds both the rows and the histograms carry (>= 1)."""
    value_us = round(duration_ms * 1000.0)
    if value_us < HISTOGRAM_LOWEST_US:
        return HISTOGRAM_LOWEST_US
    return min(value_us, HISTOGRAM_HIGHEST_US)


class StageHistograms:
    """HDR histograms per stage, per kind (``requests`` / ``journeys``) and name; ramp excluded."""

    def __init__(self) -> None:
        self._stages: dict[str, dict[str, dict[str, HdrHistogram]]] = {}

    def record(self, stage: str, kind: str, name: str, value_us: int) -> None:
        """Count one value (microseconds) for (stage, kind, name)."""
        try:
            self._stages[stage][kind][name].record_value(value_us)
        except KeyError:
            self._create(stage, kind, name).record_value(value_us)

    def _create(self, stage: str, kind: str, name: str) -> HdrHistogram:
        kinds = self._stages.setdefault(stage, {"requests": {}, "journeys": {}})
        return kinds[kind].setdefault(name, new_histogram())

    def percentile_us(self, stage: str, kind: str, percentile: float) -> int | None:
        """The ``percentile`` of every name of (stage, kind) together, in us; None when empty.
        Merges the histograms (cheap: non-empty buckets only); meant for a live line, not per value."""
        merged = new_histogram()
        for histogram in self._stages.get(stage, {}).get(kind, {}).values():
            merged.add(histogram)
        return merged.get_value_at_percentile(percentile) if merged.get_total_count() else None

    def stages(self) -> list[str]:
        """Stage names seen, in first-seen order."""
        return list(self._stages)

    def take_encoded(self) -> dict[str, dict[str, dict[str, str]]]:
        """Encode every non-empty histogram (stage -> kind -> name -> hdrh text) and empty them."""
        out: dict[str, dict[str, dict[str, str]]] = {}
        for stage, kinds in self._stages.items():
            for kind, names in kinds.items():
                for name, histogram in list(names.items()):
                    if histogram.get_total_count():
                        out.setdefault(stage, {}).setdefault(kind, {})[name] = histogram.encode().decode("ascii")
                        names[name] = new_histogram()  # 4x cheaper than HdrHistogram.reset()
        return out

    def merge_encoded(self, encoded: dict[str, dict[str, dict[str, str]]]) -> None:
        """Add histograms produced by :meth:`take_encoded` (exact: bucket counts are summed)."""
        for stage, kinds in encoded.items():
            for kind, names in kinds.items():
                for name, text in names.items():
                    try:
                        target = self._stages[stage][kind][name]
                    except KeyError:
                        target = self._create(stage, kind, name)
                    target.add(HdrHistogram.decode(text))

    def stage_document(self, stage: str) -> dict[str, Any]:
        """The ``histograms/<stage>.json`` document for ``stage``."""
        kinds = self._stages.get(stage, {"requests": {}, "journeys": {}})
        return {
            "stage": stage,
            **{
                kind: {name: h.encode().decode("ascii") for name, h in sorted(names.items()) if h.get_total_count()}
                for kind, names in kinds.items()
            },
        }


class Recorder:
    """Takes requests, journeys, journal entries and arrivals from one load-generating process.

    With a ``writer`` (local runner) rows are written at once; without (a worker), they are
    buffered until :meth:`take_report`.
    """

    def __init__(self, worker: str, writer: RunWriter | None = None) -> None:
        self.worker = worker
        self.writer = writer
        self.histograms = writer.histograms if writer is not None else StageHistograms()
        self._requests: list[tuple] = []
        self._journeys: list[tuple] = []
        self._journal: list[dict[str, Any]] = []
        self._arrivals: dict[str, list[int]] = {}
        self.in_flight = 0
        # A worker whose clock reads ahead of the master's by this much records every time
        # shifted back onto the master's clock (loadtests.join); 0.0 for the local runner.
        self.clock_shift_s = 0.0
        self.sent_requests: dict[str, int] = {}  # per stage, every row sent to the master so far
        # Bound once: the hot path then does no branching on the role.
        self._add_request = writer.add_request if writer is not None else self._requests.append
        self._add_journey = writer.add_journey if writer is not None else self._journeys.append
        self._add_journal = writer.add_journal if writer is not None else self._journal.append
        self._record_histogram = self.histograms.record

    def request(
        self,
        t_s: float,
        stage: str,
        in_ramp: bool,
        name: str,
        method: str,
        response_ms: float,
        ok: bool,
        status: int,
        error_kind: str,
        bytes_received: int,
        journey_id: str,
    ) -> None:
        """Record one HTTP request (the hot path: one row, one histogram count unless in a ramp)."""
        value_us = to_us(response_ms)
        self._add_request(
            (round(t_s - self.clock_shift_s, 6), stage, 1 if in_ramp else 0, name, method, value_us / 1000.0, 1 if ok else 0, status,
             error_kind, bytes_received, journey_id, self.worker)
        )  # fmt: skip
        if not in_ramp:
            self._record_histogram(stage, "requests", name, value_us)

    def journey(
        self,
        journey_id: str,
        visit_id: str,
        name: str,
        stage: str,
        in_ramp: bool,
        intended_t_s: float,
        start_t_s: float | None,
        end_t_s: float | None,
        ok: bool,
        outcome: str,
        flags: Iterable[str] = (),
        sync_lag_ms: float | None = None,
    ) -> None:
        """Record one journey or visit (times: epoch seconds; None start/end for a dropped visit)."""
        if self.clock_shift_s:
            shift_s = self.clock_shift_s
            intended_t_s -= shift_s
            start_t_s = None if start_t_s is None else start_t_s - shift_s
            end_t_s = None if end_t_s is None else end_t_s - shift_s
        if start_t_s is None or end_t_s is None:
            duration_ms: float | str = ""
            from_intended_ms: float | str = ""
        else:
            duration_us = to_us((end_t_s - start_t_s) * 1000.0)
            duration_ms = duration_us / 1000.0
            from_intended_ms = round((end_t_s - intended_t_s) * 1000.0, 3)
            if not in_ramp:
                self._record_histogram(stage, "journeys", name, duration_us)
        self._add_journey(
            (journey_id, visit_id, name, stage, 1 if in_ramp else 0, round(intended_t_s, 6),
             "" if start_t_s is None else round(start_t_s, 6), "" if end_t_s is None else round(end_t_s, 6),
             duration_ms, from_intended_ms, 1 if ok else 0, outcome, ";".join(flags),
             "" if sync_lag_ms is None else round(sync_lag_ms, 3), self.worker)
        )  # fmt: skip

    def journal(self, entry: dict[str, Any]) -> None:
        """Append one client-journal entry (``t_s``, ``kind``, ``journey_id``, ...)."""
        if self.clock_shift_s and "t_s" in entry:
            entry = {**entry, "t_s": round(entry["t_s"] - self.clock_shift_s, 6)}
        self._add_journal(entry)

    def arrival(self, stage: str, started: bool) -> None:
        """Count one intended arrival of ``stage``: started by a user, or dropped (no idle user)."""
        if self.writer is not None:
            self.writer.add_arrivals(stage, 1 if started else 0, 0 if started else 1)
        else:
            counts = self._arrivals.setdefault(stage, [0, 0])
            counts[0 if started else 1] += 1

    def take_report(self) -> dict[str, Any]:
        """Everything buffered since the last call, as plain data for the master (worker role)."""
        for row in self._requests:
            self.sent_requests[row[1]] = self.sent_requests.get(row[1], 0) + 1
        report = {
            "ceiling": {"throttled": CEILING.throttled, "waited_s": round(CEILING.waited_s, 6)},  # cumulative
            "worker": self.worker,
            "sent_requests": dict(self.sent_requests),  # cumulative: the master checks nothing was lost
            "requests": self._requests,
            "journeys": self._journeys,
            "journal": self._journal,
            "arrivals": self._arrivals,
            "histograms": self.histograms.take_encoded(),
            "in_flight": self.in_flight,
        }
        self._requests, self._journeys, self._journal, self._arrivals = [], [], [], {}
        self._add_request = self._requests.append
        self._add_journey = self._journeys.append
        self._add_journal = self._journal.append
        return report


class _StageProgress:
    __slots__ = ("requests", "failures", "started", "dropped")

    def __init__(self) -> None:
        self.requests = self.failures = self.started = self.dropped = 0


class _DroppedRows:
    """Stands in for a csv writer once recording has failed: later rows are dropped, so a file
    is cut at the failure instead of carrying torn lines in its middle."""

    @staticmethod
    def writerow(_row: tuple) -> None:
        return None


class RunWriter:
    """Writes requests.csv, journeys.csv, journal.jsonl, events.jsonl and histograms/ in ``run_dir``.

    Rows are buffered by the file objects; call :meth:`flush` at least every 2 s.
    Keeps the running counts the live progress line needs.

    A write that fails (a full disk: ENOSPC, an I/O error) never raises into the load: the
    first one is kept in :attr:`failure` (a message naming the file), every later row is
    dropped, and whatever was flushed before stays on disk. The recorder polls ``failure``
    and stops the load.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        (self.run_dir / "histograms").mkdir(parents=True, exist_ok=True)
        self.histograms = StageHistograms()
        self._requests_file = self._open_csv("requests.csv", REQUEST_COLUMNS)
        self._journeys_file = self._open_csv("journeys.csv", JOURNEY_COLUMNS)
        self._request_rows = csv.writer(self._requests_file, lineterminator="\n")
        self._journey_rows = csv.writer(self._journeys_file, lineterminator="\n")
        self._journal_file = open(self.run_dir / "journal.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._events_fd = os.open(self.run_dir / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._progress: dict[str, _StageProgress] = {}
        self._window_requests = 0
        self._window_failures = 0
        # This progress interval's response times, kept only while an [abort] p95_ms rule needs
        # their P95 (track_window_p95): otherwise the hot path appends nothing.
        self._window_ms: list[float] | None = None
        self.workers_in_flight: dict[str, int] = {}
        self.worker_sent: dict[str, dict[str, int]] = {}  # per worker, per stage: what it says it sent
        self.worker_merged: dict[str, dict[str, int]] = {}  # per worker, per stage: rows merged here
        self.worker_ceiling: dict[str, dict] = {}  # per worker: requests the ceiling held back, seconds waited
        self.closed = False
        self.failure: str | None = None  # the first write that failed: "cannot write PATH: why"

    def _open_csv(self, name: str, columns: tuple[str, ...]):
        path = self.run_dir / name
        new = not path.exists() or path.stat().st_size == 0
        handle = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        if new:
            handle.write(",".join(columns) + "\n")
        return handle

    def _fail(self, name: str, error: OSError) -> None:
        """Remember the first failed write and drop every row from now on."""
        if self.failure is None:
            self.failure = f"cannot write {self.run_dir / name}: {error.strerror or error}"
        self._request_rows = self._journey_rows = _DroppedRows()

    def _stage(self, stage: str) -> _StageProgress:
        progress = self._progress.get(stage)
        if progress is None:
            progress = self._progress[stage] = _StageProgress()
        return progress

    def add_request(self, row: tuple) -> None:
        """Write one requests.csv row (tuple in REQUEST_COLUMNS order) and count it for progress."""
        try:
            self._request_rows.writerow(row)
        except OSError as error:  # the buffer spilled onto a full disk
            self._fail("requests.csv", error)
        progress = self._progress.get(row[1]) or self._stage(row[1])
        progress.requests += 1
        progress.failures += row[6] == 0
        self._window_requests += 1
        self._window_failures += row[6] == 0
        if self._window_ms is not None:
            self._window_ms.append(row[5])

    def track_window_p95(self, on: bool) -> None:
        """Keep each progress interval's response times for its ``window_p95_ms`` (an [abort]
        p95_ms rule reads it); off, that field is None and requests cost nothing more."""
        self._window_ms = [] if on else None

    def add_journey(self, row: tuple) -> None:
        """Write one journeys.csv row (tuple in JOURNEY_COLUMNS order)."""
        try:
            self._journey_rows.writerow(row)
        except OSError as error:
            self._fail("journeys.csv", error)

    def add_journal(self, entry: dict[str, Any]) -> None:
        """Append one journal.jsonl line."""
        if self.failure is not None:
            return
        try:
            self._journal_file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        except OSError as error:
            self._fail("journal.jsonl", error)

    def add_arrivals(self, stage: str, started: int, dropped: int) -> None:
        """Count arrivals of ``stage`` that started or were dropped."""
        progress = self._stage(stage)
        progress.started += started
        progress.dropped += dropped

    def absorb(self, report: dict[str, Any]) -> None:
        """Take a worker's report (from :meth:`Recorder.take_report`): write its rows, merge its histograms."""
        worker = str(report.get("worker"))
        merged = self.worker_merged.setdefault(worker, {})
        for row in report.get("requests", ()):
            self.add_request(tuple(row))
            merged[row[1]] = merged.get(row[1], 0) + 1
        if "sent_requests" in report:
            self.worker_sent[worker] = dict(report["sent_requests"])
        if "ceiling" in report:
            self.worker_ceiling[worker] = dict(report["ceiling"])
        for row in report.get("journeys", ()):
            self.add_journey(tuple(row))
        for entry in report.get("journal", ()):
            self.add_journal(entry)
        for stage, (started, dropped) in report.get("arrivals", {}).items():
            self.add_arrivals(stage, started, dropped)
        self.histograms.merge_encoded(report.get("histograms", {}))
        self.workers_in_flight[str(report.get("worker"))] = int(report.get("in_flight", 0))

    def event(self, kind: str, t_s: float, **fields: Any) -> dict[str, Any]:
        """Append one events.jsonl line at once (single write: safe beside the harness's appends)."""
        record = {"t_s": round(t_s, 6), "kind": kind, **fields}
        try:
            os.write(self._events_fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        except OSError as error:
            self._fail("events.jsonl", error)
        return record

    def progress(self, t_s: float, stage: str, stage_elapsed_s: float, intended_journeys_per_s: float,
                 window_s: float) -> dict[str, Any]:
        """Write and return a ``progress`` event: figures for ``stage`` so far, requests/s over
        ``window_s``; ``p95_ms`` from the stage's own histograms (its ramp left out, as in the
        results; None while only ramp requests were seen)."""
        progress = self._stage(stage)
        requests_per_s = self._window_requests / window_s if window_s > 0 else 0.0
        window_requests, window_failures, window_p95_ms = self._window_requests, self._window_failures, None
        if self._window_ms:
            ordered = sorted(float(ms) for ms in self._window_ms)
            window_p95_ms = ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]  # nearest rank
        self._window_requests, self._window_failures = 0, 0
        if self._window_ms is not None:
            self._window_ms = []
        p95_us = self.histograms.percentile_us(stage, "requests", 95)  # the stage's, ramp left out
        return self.event(
            "progress", t_s,
            stage=stage,
            elapsed_s=round(stage_elapsed_s, 3),
            intended_journeys_per_s=round(intended_journeys_per_s, 4),
            achieved_journeys_per_s=round(progress.started / stage_elapsed_s, 4) if stage_elapsed_s > 0 else 0.0,
            requests_per_s=round(requests_per_s, 3),
            p95_ms=None if p95_us is None else p95_us / 1000.0,
            failures=progress.failures,
            requests=progress.requests,
            dropped=progress.dropped,
            window_s=round(window_s, 3),  # this interval's own figures: the live [abort] conditions' input
            window_requests=window_requests,
            window_failures=window_failures,
            window_p95_ms=None if window_p95_ms is None else round(window_p95_ms, 3),
        )  # fmt: skip

    def write_histograms(self, stages: Iterable[str]) -> None:
        """Write ``histograms/<stage>.json`` for each stage (atomically: tmp + rename)."""
        for stage in stages:
            path = self.run_dir / "histograms" / f"{stage}.json"
            tmp = path.with_suffix(".json.tmp")
            try:
                tmp.write_text(json.dumps(self.histograms.stage_document(stage)), encoding="utf-8")
                os.replace(tmp, path)
            except OSError as error:  # the previous version of the file, if any, stays whole
                tmp.unlink(missing_ok=True)
                self._fail(f"histograms/{stage}.json", error)

    def flush(self) -> None:
        """Push buffered rows to the files (call at least every 2 s)."""
        for name, handle in self._handles():
            try:
                handle.flush()
            except OSError as error:
                self._fail(name, error)

    def _handles(self) -> tuple:
        return (("requests.csv", self._requests_file), ("journeys.csv", self._journeys_file),
                ("journal.jsonl", self._journal_file))

    def close(self) -> None:
        """Flush and close every file. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.flush()
        for name, handle in self._handles():
            try:
                handle.close()  # closes the file even when its last flush fails
            except OSError as error:
                self._fail(name, error)
        os.close(self._events_fd)
