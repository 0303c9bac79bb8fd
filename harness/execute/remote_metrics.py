"""The platform's processes seen from outside: ``--metrics-url`` scraped at ~1 Hz during a run.

For a platform the harness did not start and cannot sample with psutil (a staging host, a
container elsewhere), each URL is one process's or instance's Prometheus text: the standard
process collector's ``process_resident_memory_bytes``, ``process_cpu_seconds_total`` and
``process_start_time_seconds`` (a restart shows as a new start time). A daemon thread scrapes
every URL once per round, stamps the round with one time (as the sampler stamps a tick) and
appends one row per URL to ``platform/remote_metrics.csv``; a failed scrape is a row with
``error`` set, never an exception. The memory analysis sums the instances per round
(harness.measure.memory), only over rounds where every instance answered.

prometheus_client's process collector is absent in its multiprocess mode (e.g. several gunicorn
workers sharing a PROMETHEUS_MULTIPROC_DIR): such an endpoint has no process_* series, the rows
have no rss_bytes, and the memory analysis says so instead of judging.

    scraper = RemoteMetricsScraper(["http://10.0.0.5:8000/metrics"], run_dir / schema.REMOTE_METRICS.relative_path)
    scraper.start(); ...; scraper.stop()   # {"urls": [...], "rounds": 61, "failures": 0, "last_error": None}
"""

from __future__ import annotations

import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from harness.execute.csv_thread import CsvThread
from harness.rundir import schema

COLUMNS = tuple(schema.REMOTE_METRICS.columns)
INTERVAL_S = 1.0
TIMEOUT_S = 0.8
PROCESS_SERIES = {"process_resident_memory_bytes": "rss_bytes", "process_cpu_seconds_total": "cpu_seconds",
                  "process_start_time_seconds": "start_time_s"}


def parse_process_metrics(text: str) -> dict[str, float]:
    """``rss_bytes``, ``cpu_seconds`` and ``start_time_s`` of one Prometheus text, those present
    (the process collector's series, unlabelled)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            column = PROCESS_SERIES.get(sample.name)
            if column is not None and column not in out:
                out[column] = float(sample.value)
    return out


class RemoteMetricsScraper(CsvThread):
    """Scrapes every URL once a round in a daemon thread; bounded by :meth:`stop` (joins in < 2 s
    after the round in flight)."""

    def __init__(self, urls: list[str], path: Path, verify: bool | str = True, interval_s: float = INTERVAL_S,
                 timeout_s: float = TIMEOUT_S) -> None:
        self.urls, self.path, self.verify = list(urls), Path(path), verify
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.rounds = self.failures = 0
        self.last_error: str | None = None
        self.missing_process_series: set[str] = set()
        super().__init__()
        self._session = requests.Session()

    def start(self) -> None:
        """Open the CSV (header first) and start the thread."""
        self._start_thread(COLUMNS, "remote-metrics")

    def stop(self) -> dict:
        """Stop the thread, close the file; what was scraped, for the manifest."""
        self._stop_thread(len(self.urls) * self.timeout_s + 1.0)
        self._session.close()
        return {"urls": self.urls, "rounds": self.rounds, "failures": self.failures, "last_error": self.last_error,
                "without_process_series": sorted(self.missing_process_series)}

    def _loop(self) -> None:
        next_s = time.monotonic()
        while not self._stop.is_set():
            self._round()
            next_s = max(next_s + self.interval_s, time.monotonic())  # a slow round skips ticks
            self._stop.wait(max(0.0, next_s - time.monotonic()))

    def _round(self) -> None:
        t_s = time.time()
        rows = []
        for url in self.urls:
            started = time.perf_counter()
            figures, error = {}, ""
            try:
                response = self._session.get(url, timeout=self.timeout_s, verify=self.verify)
                response.raise_for_status()
                figures = parse_process_metrics(response.text)
                if "rss_bytes" not in figures:
                    self.missing_process_series.add(url)
            except Exception as failure:  # noqa: BLE001 - recorded, never raised: the run goes on
                error = f"{type(failure).__name__}: {failure}"[:200].replace("\n", " ")
                self.failures += 1
                self.last_error = f"{url}: {error}"
            scrape_ms = (time.perf_counter() - started) * 1000.0
            rows.append([f"{t_s:.3f}", url, f"{scrape_ms:.1f}", error,
                         *("" if figures.get(c) is None else f"{figures[c]:.0f}" if c == "rss_bytes"
                           else f"{figures[c]:.3f}" for c in COLUMNS[4:])])
        self.rounds += 1
        try:
            self._writer.writerows(rows)
            self._file.flush()
        except (OSError, ValueError) as failure:  # disk full or closed: stop scraping, keep the run
            self.last_error = f"writing {self.path}: {failure}"
            self._stop.set()
