"""The recorder core: rows per the run-directory contract, exact histogram merging."""

from __future__ import annotations

import csv
import json
import random

from hdrh.histogram import HdrHistogram

from loadtests.records import JOURNEY_COLUMNS, REQUEST_COLUMNS, Recorder, RunWriter, new_histogram


def fill(recorder: Recorder, rng: random.Random, count: int) -> None:
    for i in range(count):
        stage = rng.choice(["100%", "200%"])
        recorder.request(1_700_000_000 + i * 0.01, stage, rng.random() < 0.2, rng.choice(["GET /a", "GET /b/[id]"]),
                         "GET", rng.lognormvariate(3, 1), rng.random() > 0.1, 200, "", 100, f"j{i}")
    recorder.journey("v1", "v1", "visit", "100%", False, 10.0, 10.5, 12.0, True, "completed")
    recorder.journey("v2", "v2", "visit", "100%", False, 11.0, None, None, False, "dropped")
    recorder.journal({"t_s": 1.0, "kind": "order_acknowledged", "journey_id": "v1.1", "order_id": "SO1"})


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_local_rows_follow_the_contract(tmp_path):
    writer = RunWriter(tmp_path)
    recorder = Recorder("local", writer)
    fill(recorder, random.Random(1), 50)
    writer.write_histograms(["100%", "200%"])
    writer.close()
    requests = read_csv(tmp_path / "requests.csv")
    assert list(requests[0]) == list(REQUEST_COLUMNS) and len(requests) == 50
    assert {r["worker"] for r in requests} == {"local"}
    journeys = read_csv(tmp_path / "journeys.csv")
    assert list(journeys[0]) == list(JOURNEY_COLUMNS)
    assert journeys[0]["duration_ms"] == "1500.0" and journeys[0]["from_intended_ms"] == "2000.0"
    assert journeys[1]["outcome"] == "dropped" and journeys[1]["start_t_s"] == "" and journeys[1]["ok"] == "0"
    assert json.loads((tmp_path / "journal.jsonl").read_text())["order_id"] == "SO1"
    doc = json.loads((tmp_path / "histograms" / "100%.json").read_text())
    assert doc["stage"] == "100%" and set(doc["journeys"]) == {"visit"}


def histogram_from_rows(rows, stage, name):
    histogram = new_histogram()
    for row in rows:
        if row["stage"] == stage and row["name"] == name and row["in_ramp"] == "0":
            histogram.record_value(round(float(row["response_ms"]) * 1000))
    return histogram


def test_worker_reports_merge_exactly(tmp_path):
    master = RunWriter(tmp_path)
    workers = [Recorder(str(i)) for i in range(2)]
    rng = random.Random(5)
    for _ in range(3):  # several report rounds, as every second in a run
        for worker in workers:
            fill(worker, rng, 400)
            master.absorb(json.loads(json.dumps(worker.take_report())))  # as plain data over the wire
    master.write_histograms(["100%", "200%"])
    master.close()
    rows = read_csv(tmp_path / "requests.csv")
    assert len(rows) == 2 * 3 * 400 and {r["worker"] for r in rows} == {"0", "1"}
    for stage in ("100%", "200%"):
        doc = json.loads((tmp_path / "histograms" / f"{stage}.json").read_text())
        for name in ("GET /a", "GET /b/[id]"):
            merged = HdrHistogram.decode(doc["requests"][name])
            exact = histogram_from_rows(rows, stage, name)
            assert merged.get_total_count() == exact.get_total_count() > 0
            for percentile in (50, 90, 95, 99, 99.9, 100):
                assert merged.get_value_at_percentile(percentile) == exact.get_value_at_percentile(percentile)


def test_progress_event(tmp_path):
    writer = RunWriter(tmp_path)
    recorder = Recorder("local", writer)
    recorder.arrival("100%", True)
    recorder.arrival("100%", False)
    recorder.request(0.5, "100%", True, "GET /a", "GET", 900.0, True, 200, "", 0, "j")  # ramp: not in the P95
    assert writer.progress(0.6, "100%", 0.6, 0.5, 0.6)["p95_ms"] is None
    recorder.request(1.0, "100%", False, "GET /a", "GET", 12.0, False, 503, "http_5xx", 0, "j")
    event = writer.progress(2.0, "100%", 4.0, 0.5, 2.0)
    writer.close()
    assert event["kind"] == "progress" and event["failures"] == 1 and event["dropped"] == 1
    assert event["achieved_journeys_per_s"] == 0.25 and event["requests_per_s"] == 0.5
    assert abs(event["p95_ms"] - 12.0) <= 0.012  # 3 significant digits
    line = json.loads((tmp_path / "events.jsonl").read_text().splitlines()[-1])
    assert line == event
