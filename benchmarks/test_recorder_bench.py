"""The recorder's cost per request, on its hot path (without Locust's gevent patching).

Locust calls ``LoadRun.on_request`` (loadtests/recorder.py), which unpacks the event and calls
``Recorder.request``: these benchmarks time the latter in its two roles.
"""

from __future__ import annotations

import itertools

from loadtests.records import Recorder, RunWriter

NAMES = ["GET /api/products/[id]", "GET /static/img/[name]", "GET /api/products", "POST /api/orders"]


def _request_loop(recorder: Recorder):
    counter = itertools.count()

    def one_request():
        i = next(counter)
        recorder.request(1_764_349_200.0 + i * 0.001, "100%", False, NAMES[i & 3], "GET", 12.345 + (i & 255),
                         True, 200, "", 2048, "local-1.2")

    return one_request


def test_recorder_cost_local_runner(benchmark, tmp_path):
    """Local runner: CSV row + stage histogram (the live P95 reads the same histograms), per request."""
    writer = RunWriter(tmp_path)
    benchmark(_request_loop(Recorder("local", writer)))
    writer.close()


def test_recorder_cost_worker(benchmark):
    """Worker: buffered row + histogram; the report's encoding is amortised separately below."""
    recorder = Recorder("0")
    benchmark(_request_loop(recorder))


def test_worker_report_cost_per_1000_requests(benchmark, tmp_path):
    """Encoding a worker's report of 1000 requests and absorbing it on the master."""
    writer = RunWriter(tmp_path)
    worker = Recorder("0")
    loop = _request_loop(worker)

    def report_round():
        for _ in range(1000):
            loop()
        writer.absorb(worker.take_report())

    benchmark(report_round)
    writer.close()
