"""Write a synthetic soak run directory of N hours, as the recorder, sampler and scraper write one.

One stage ("100%") at a fixed rate: by default 75 visits/s of 4 requests each, i.e. 300
requests/s, about 26 million request rows and 13 million journey rows for 24 hours (a real
platform's soak). The files follow docs/run-directory.md: manifest.json, requests.csv (times
to the µs, response times in whole µs as the recorder writes them), journeys.csv (a visit row
and one journey row per arrival), histograms/100%.json (HDR per request name and journey, ramp
left out), samples.csv (shop and generator at 1 Hz, the shop's memory flat), events.jsonl
(stage start/end and a progress event per second) and platform/metrics.csv (a scrape per
second, the shop's request counter 0.2 s behind the client). No journal (no reconciliation).

Everything is generated an hour at a time and appended, so writing a day takes a few hundred
MB of memory and a few minutes; the output is the same for the same arguments (seeded).

Example:
    .venv/bin/python benchmarks/synthetic_run.py /tmp/soak-24h --hours 24
    /usr/bin/time -v .venv/bin/harness check /tmp/soak-24h --targets profiles/targets.toml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.core import histogram  # noqa: E402
from harness.core.streamstats import ValueCounts  # noqa: E402
from harness.rundir import schema  # noqa: E402

T0_S = 1_764_349_200.0
STAGE = "100%"
RAMP_S = 60.0
# name -> (share of requests, median ms)
ENDPOINTS = {
    "GET /api/products": (0.22, 45.0),
    "GET /api/products/[id]": (0.22, 38.0),
    "GET /api/search": (0.12, 70.0),
    "GET /static/img/[name]": (0.20, 22.0),
    "POST /api/cart/items": (0.10, 35.0),
    "GET /api/cart": (0.06, 30.0),
    "POST /api/orders": (0.04, 90.0),
    "POST /gateway/api/frontTransReq.do": (0.04, 140.0),
}
JOURNEYS = ("browse", "product_page", "register", "cart", "checkout")
LAG_S = 0.2
SPAN_S = 600.0


def fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative numbers as text with ``decimals`` decimals ("" for NaN), vectorised (pandas'
    float formatting goes value by value and would take most of the time)."""
    values = np.asarray(values, dtype=float)
    missing = np.isnan(values)
    scaled = np.round(np.where(missing, 0.0, values) * 10**decimals).astype(np.int64)
    whole, fraction = np.divmod(scaled, 10**decimals)
    text = np.char.add(np.char.add(whole.astype("S"), b"."), np.char.zfill(fraction.astype("S"), decimals))
    return np.where(missing, b"", text)


def write_rows(handle, columns: list) -> None:
    """Append CSV rows to a binary file: ``columns`` are arrays (or scalars) of plain ASCII text
    without commas, as bytes (``S`` arrays: a quarter of the memory of ``str`` ones)."""
    n = max(np.size(c) for c in columns if not np.isscalar(c))

    def text(column) -> np.ndarray:
        column = np.asarray(column)
        column = column if column.dtype.kind == "S" else np.char.encode(column.astype(str), "ascii")
        return np.broadcast_to(column, (n,))

    line = text(columns[0])
    for column in columns[1:]:
        line = np.char.add(np.char.add(line, b","), text(column))
    handle.write(b"\n".join(line.tolist()) + b"\n")


def write_synthetic_run(run_dir: Path, hours: float, visits_per_s: float = 75.0, requests_per_visit: int = 4,
                        seed: int = 14) -> Path:
    """Write the run directory (see the module docstring); returns its path."""
    run_dir = Path(run_dir)
    (run_dir / "histograms").mkdir(parents=True, exist_ok=True)
    (run_dir / "platform").mkdir(exist_ok=True)
    duration_s = hours * 3600.0
    rng = np.random.default_rng(seed)
    names = np.array(list(ENDPOINTS))
    shares = np.array([s for s, _ in ENDPOINTS.values()])
    medians = np.array([m for _, m in ENDPOINTS.values()])
    request_values = {name: ValueCounts() for name in ENDPOINTS}  # µs of steady rows, for histograms/
    journey_values = {name: ValueCounts() for name in ("visit", *JOURNEYS)}
    files = {name: open(run_dir / name, "wb")  # noqa: SIM115
             for name in ("requests.csv", "journeys.csv", "samples.csv", "platform/metrics.csv", "events.jsonl")}
    for name, table in (("requests.csv", schema.REQUESTS), ("journeys.csv", schema.JOURNEYS),
                        ("samples.csv", schema.SAMPLES), ("platform/metrics.csv", schema.METRICS)):
        files[name].write((",".join(table.columns) + "\n").encode())
    # the baseline scrape, before the first request (the monitoring delay counts from it)
    files["platform/metrics.csv"].write(f"{T0_S - 1.0:.4f},4.0,,4242,0,0,0,0,0,0,0,0,0,0\n".encode())
    events = files["events.jsonl"]
    events.write((json.dumps({"t_s": T0_S, "kind": "run_start"}) + "\n").encode())
    events.write((json.dumps({"t_s": T0_S, "kind": "stage_start", "stage": STAGE}) + "\n").encode())
    shown_before = 0
    visit_index = 0
    for hour_start in np.arange(0.0, duration_s, SPAN_S):  # ten minutes at a time
        span_s = min(SPAN_S, duration_s - hour_start)
        n_visits = int(round(visits_per_s * span_s))
        intended = T0_S + hour_start + np.sort(rng.uniform(0.0, span_s, n_visits))
        in_ramp = (intended < T0_S + RAMP_S).astype(int)
        ids = np.arange(visit_index, visit_index + n_visits)
        visit_index += n_visits

        # requests: k per visit, 50 ms apart after a 1 ms start delay
        k = requests_per_visit
        visit_of = np.repeat(np.arange(n_visits), k)
        t_s = np.repeat(intended, k) + 0.001 + np.tile(np.arange(k) * 0.05, n_visits)
        n = t_s.size
        endpoint = rng.choice(len(names), size=n, p=shares / shares.sum())
        response_us = np.maximum(1, np.round(rng.lognormal(np.log(medians[endpoint]), 0.5) * 1000)).astype(np.int64)
        response_ms = response_us / 1000.0
        u = rng.random(n)
        ok = (u >= 0.003).astype(int)
        kind = np.where(u < 0.001, "timeout", np.where(u < 0.002, "connection", np.where(u < 0.003, "http_5xx", "")))
        status = np.where(ok == 1, 200, np.where(kind == "http_5xx", 503, 0))
        write_rows(files["requests.csv"], [
            fixed(t_s, 6), STAGE, in_ramp[visit_of], names[endpoint],
            np.where(np.char.startswith(names[endpoint], "POST"), "POST", "GET"), fixed(response_ms, 3), ok, status,
            kind, 512, np.char.add(np.char.add("v", np.char.zfill(ids[visit_of].astype(str), 8)), "-1"), "local"])
        steady = in_ramp[visit_of] == 0
        for code, name in enumerate(names):
            request_values[name].add(response_us[steady & (endpoint == code)])

        # journeys: the visit and one journey each; 1% of checkouts time out at the gateway
        visit_us = np.round((k - 1) * 50_000 + response_us.reshape(n_visits, k)[:, -1] + 1000).astype(np.int64)
        journey_name = np.array(JOURNEYS)[ids % len(JOURNEYS)]
        journey_us = np.round(rng.lognormal(np.log(np.where(journey_name == "product_page", 300.0, 200.0)), 0.3)
                              * 1000).astype(np.int64)
        v = rng.random(n_visits)
        outcome = np.full(n_visits, "ok", dtype=object)
        outcome[journey_name == "checkout"] = np.where(v[journey_name == "checkout"] < 0.97, "paid", "payment_failed")
        outcome[journey_name == "register"] = np.where(v[journey_name == "register"] < 0.9, "registered", "failed")
        flags = np.where((journey_name == "checkout") & (v > 0.99), "gateway_timeout",
                         np.where((journey_name == "register") & (v < 0.1), "sms_reentry", ""))
        lag = np.where(outcome == "paid", np.round(rng.lognormal(np.log(500.0), 0.3, n_visits), 3), np.nan)
        start = intended + 0.001
        visit_ids = np.char.add("v", np.char.zfill(ids.astype(str), 8))
        for label, names_, us, outcomes, flag, sync in (
                ("visit", np.full(n_visits, "visit"), visit_us, np.full(n_visits, "completed"), "",
                 np.full(n_visits, np.nan)),
                ("journey", journey_name, journey_us, outcome, flags, lag)):
            write_rows(files["journeys.csv"], [
                visit_ids if label == "visit" else np.char.add(visit_ids, "-1"), visit_ids, names_, STAGE, in_ramp,
                fixed(intended, 6), fixed(start, 6), fixed(start + us / 1e6, 6), fixed(us / 1000.0, 3),
                fixed((start + us / 1e6 - intended) * 1000.0, 3),
                np.isin(outcomes, ["ok", "paid", "registered", "completed"]).astype(int), outcomes.astype(str), flag,
                fixed(sync, 3), "local"])
            for name in np.unique(names_):
                journey_values[str(name)].add(us[(in_ramp == 0) & (names_ == name)])

        # samples, scrapes and progress events, one a second
        seconds = T0_S + hour_start + np.arange(int(span_s)) + 0.5
        samples = pd.DataFrame({
            "t_s": np.repeat(seconds, 2), "pid": np.tile([4242, 4343], seconds.size),
            "role": np.tile(["shop", "generator"], seconds.size),
            "rss_bytes": np.tile([150_000_000, 90_000_000], seconds.size) + rng.integers(0, 2_000_000, 2 * seconds.size),
            "uss_bytes": np.tile([120_000_000, 0], seconds.size), "cpu_percent": np.tile([35.0, 20.0], seconds.size),
            "num_threads": 4, "num_fds": 30})
        samples.to_csv(files["samples.csv"], header=False, index=False, float_format="%.3f")
        shop = status > 0
        shop &= ~np.char.startswith(names[endpoint], "POST /gateway")
        done = np.sort(t_s[shop] + response_ms[shop] / 1000.0)
        shown = shown_before + np.searchsorted(done, seconds - LAG_S, side="right")
        shown_before += done.size
        elapsed = seconds - T0_S
        metrics = pd.DataFrame({
            "t_s": seconds, "scrape_ms": 4.0, "error": "", "pid": 4242, "requests_total": shown,
            "cache_hits": np.floor(elapsed * 40 * 0.95), "cache_misses": np.floor(elapsed * 40 * 0.05),
            "cache_bypass": 0, "order_cache_hits": np.floor(elapsed * 2), "order_cache_misses": 0,
            "order_cache_bypass": 0, "request_seconds": elapsed * 2.0, "db_seconds": elapsed * 0.5,
            "db_wait_seconds": elapsed * 0.1})
        metrics[schema.METRICS.columns].to_csv(files["platform/metrics.csv"], header=False, index=False,
                                               float_format="%.4f")
        per_second = np.bincount((t_s - T0_S - hour_start).astype(int), minlength=int(span_s))[: int(span_s)]
        for second_s, count in zip(elapsed.tolist(), per_second.tolist(), strict=True):
            events.write((json.dumps({"t_s": round(T0_S + second_s, 6), "kind": "progress", "stage": STAGE,
                                      "elapsed_s": round(second_s, 3), "requests_per_s": count}) + "\n").encode())
    end_s = T0_S + duration_s
    events.write((json.dumps({"t_s": end_s, "kind": "stage_end", "stage": STAGE}) + "\n").encode())
    events.write((json.dumps({"t_s": end_s, "kind": "run_end", "end_reason": "completed"}) + "\n").encode())
    for handle in files.values():
        handle.close()
    (run_dir / "histograms" / f"{STAGE}.json").write_text(json.dumps({
        "stage": STAGE, "requests": {name: _encoded(v) for name, v in request_values.items()},
        "journeys": {name: _encoded(v) for name, v in journey_values.items()}}))
    manifest = {
        "schema_version": 1, "run_id": f"20261128T170000Z-soak-{int(hours * 60):04d}m", "argv": ["synthetic_run.py"],
        "started_at": "2026-11-28T17:00:00Z", "ended_at": None, "end_reason": "completed", "end_detail": "",
        "t0_s": T0_S, "profile": {"path": "benchmarks/synthetic_run.py", "name": "soak", "content": {}},
        "stages": [{"name": STAGE, "load_factor": 1.0, "start_offset_s": 0.0, "duration_s": duration_s,
                    "ramp_s": RAMP_S, "journeys_per_s": visits_per_s}],
        "target": "http://127.0.0.1:1", "embedded_platform": True, "workers": 0, "faults": "healthy",
        "targets_file": "profiles/targets.toml", "versions": {}, "git_revision": "synthetic", "host": {}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return run_dir


def _encoded(values_us: ValueCounts) -> str:
    """The HDR histogram (as the recorder encodes it) of counted whole-µs values."""
    hist = histogram.new_histogram()
    values_us.summary()  # merges what was counted
    for value, count in zip(values_us.values.astype(np.int64).tolist(), values_us.counts.tolist(), strict=True):
        hist.record_value(value, count)
    return histogram.encode(hist)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="where to write (created; must not hold a run)")
    parser.add_argument("--hours", type=float, default=24.0, help="run length in hours (default 24)")
    parser.add_argument("--visits-per-s", type=float, default=75.0, help="arrivals per second (default 75)")
    args = parser.parse_args(argv)
    if args.hours <= 0 or args.visits_per_s <= 0:
        parser.error("--hours and --visits-per-s must be positive")
    if (args.run_dir / "requests.csv").exists():
        parser.error(f"{args.run_dir} already holds a run (requests.csv)")
    write_synthetic_run(args.run_dir, args.hours, args.visits_per_s)
    print(f"wrote {args.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
