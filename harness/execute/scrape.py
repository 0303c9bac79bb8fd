"""Scrape the shop's Prometheus ``/metrics`` at ~1 Hz during a run, into ``platform/metrics.csv``.

A daemon thread in the harness process (it mostly waits): one GET per tick with a short
timeout, the few figures the analysis needs parsed out and appended as one CSV row, flushed
every tick. A failed scrape is a row with ``error`` set, never an exception: the run goes on.
Columns (docs/run-directory.md)::

    t_s,scrape_ms,error,pid,requests_total,cache_hits,cache_misses,cache_bypass,
    order_cache_hits,order_cache_misses,order_cache_bypass,request_seconds,db_seconds,db_wait_seconds

``t_s`` is when the GET was sent (epoch seconds); the counters were read by the shop somewhere
within ``scrape_ms`` after it. ``requests_total`` counts the shop's requests except its own
plumbing (``/metrics``, ``/healthz``, ``/admin/...``) and the gateway's notifications, i.e. the
requests a shopper's client sends. ``request_seconds`` is the time the shop spent answering
requests (``shop_http_request_duration_seconds_sum``: the shoppers' and the gateway's
notifications, whose SQL ``db_seconds`` counts too; not the harness's scrapes and admin calls), ``db_seconds`` the part of it on its
database (``shop_db_seconds_total``: SQL, simulated reads and the wait for a connection),
``db_wait_seconds`` the wait for a connection alone; their increases give the database's share
of request time. ``pid`` is the shop process that answered (with gunicorn
``--workers N`` each worker keeps its own counters).

Usage::

    scraper = MetricsScraper("http://127.0.0.1:PORT", run_dir / "platform" / "metrics.csv")
    scraper.start()
    ...
    scraper.stop()   # {"scrapes": 61, "failures": 0, "last_error": None}
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from harness.execute.csv_thread import CsvThread
from harness.rundir import schema

METRICS_COLUMNS = tuple(schema.METRICS.columns)
SECONDS_COLUMNS = schema.METRICS_SECONDS_COLUMNS  # written with decimals
SCRAPE_INTERVAL_S = 1.0
SCRAPE_TIMEOUT_S = 0.8
# Requests that are not a shopper's: the harness's own scrapes and admin calls, and the
# gateway's asynchronous payment notifications.
NOT_CLIENT_ROUTES = ("GET /metrics", "GET /healthz", "POST /api/payments/unionpay/notify")
PLUMBING_ROUTES = ("GET /metrics", "GET /healthz")  # the harness's own requests


def parse_shop_metrics(text: str) -> dict[str, float]:
    """The figures of one ``/metrics`` text: pid, requests_total, the cache lookup counts and the
    seconds spent answering client requests and on the database.

    Missing metrics give no key (an old shop without cache counters still yields requests).
    """
    out: dict[str, float] = {}
    requests_total = request_seconds = 0.0
    seen_requests = seen_durations = False
    # by sample name: the family name depends on the exposition's TYPE lines, the samples' do not
    for sample in (s for family in text_string_to_metric_families(text) for s in family.samples):
        if sample.name == "shop_http_requests_total":
            seen_requests = True
            route = sample.labels.get("route", "")
            if route not in NOT_CLIENT_ROUTES and " /admin/" not in route:
                requests_total += sample.value
        elif sample.name == "shop_http_request_duration_seconds_sum":
            seen_durations = True
            route = sample.labels.get("route", "")
            if route not in PLUMBING_ROUTES and " /admin/" not in route:  # the gateway's notifications count:
                request_seconds += sample.value  # their SQL is in shop_db_seconds_total too
        elif sample.name == "shop_db_seconds_total":
            out["db_seconds"] = out.get("db_seconds", 0.0) + sample.value
            if sample.labels.get("part") == "pool_wait":
                out["db_wait_seconds"] = sample.value
        elif sample.name == "shop_cache_lookups_total":
            column = {"hit": "hits", "miss": "misses", "bypass": "bypass"}.get(sample.labels.get("result"))
            if column is None:
                continue
            out[f"cache_{column}"] = out.get(f"cache_{column}", 0.0) + sample.value
            if sample.labels.get("cache") == "order":
                out[f"order_cache_{column}"] = sample.value
        elif sample.name == "shop_process_pid":
            out["pid"] = sample.value
    if seen_requests:
        out["requests_total"] = requests_total
    if seen_durations:
        out["request_seconds"] = request_seconds
    return out


class MetricsScraper(CsvThread):
    """Background scraper of one shop's /metrics; bounded by :meth:`stop` (joins in < 2 s)."""

    def __init__(self, shop_url: str, path: Path, interval_s: float = SCRAPE_INTERVAL_S,
                 timeout_s: float = SCRAPE_TIMEOUT_S, metrics_url: str | None = None) -> None:
        if metrics_url is None and not shop_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
            # a remote shop's metrics come from a --metrics-url (it passed the safety catch)
            raise ValueError(f"the metrics of {shop_url} are not scraped: give its /metrics with --metrics-url")
        self.url = metrics_url or shop_url.rstrip("/") + "/metrics"
        self.path, self.interval_s, self.timeout_s = Path(path), interval_s, timeout_s
        self.scrapes = self.failures = 0
        self.last_error: str | None = None
        super().__init__()

    def start(self) -> None:
        """Open the CSV (header first) and start the thread."""
        self._start_thread(METRICS_COLUMNS, "metrics-scraper")

    def stop(self) -> dict:
        """Stop the thread, close the file; returns ``{"scrapes", "failures", "last_error"}``."""
        self._stop_thread(self.timeout_s + 1.0)
        return {"scrapes": self.scrapes, "failures": self.failures, "last_error": self.last_error}

    def _loop(self) -> None:
        next_s = time.monotonic()
        while not self._stop.is_set():
            self._scrape_once()
            next_s += self.interval_s
            # a slow scrape skips ticks rather than bunching them up
            next_s = max(next_s, time.monotonic())
            self._stop.wait(max(0.0, next_s - time.monotonic()))

    def _scrape_once(self) -> None:
        t_s, started = time.time(), time.perf_counter()
        figures, error = {}, ""
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s) as response:  # noqa: S310 - loopback
                figures = parse_shop_metrics(response.read().decode("utf-8", "replace"))
        except Exception as failure:  # noqa: BLE001 - recorded, never raised: the run goes on
            error = f"{type(failure).__name__}: {failure}"[:200].replace("\n", " ")
        scrape_ms = (time.perf_counter() - started) * 1000.0
        self.scrapes += 1
        if error:
            self.failures += 1
            self.last_error = error
        row = [f"{t_s:.3f}", f"{scrape_ms:.1f}", error]
        row += ["" if figures.get(c) is None else f"{figures[c]:.4f}" if c in SECONDS_COLUMNS else f"{figures[c]:.0f}"
                for c in METRICS_COLUMNS[3:]]
        try:
            self._writer.writerow(row)
            self._file.flush()
        except (OSError, ValueError) as failure:  # disk full or closed: stop scraping, keep the run
            self.last_error = f"writing {self.path}: {failure}"
            self._stop.set()
