"""The live progress lines and the end-of-run summary, rendered from plain data."""

from __future__ import annotations

import io

from rich.console import Console

from harness.report.summary import ProgressPrinter, format_progress, print_summary


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, force_terminal=False, color_system=None), buffer


def _progress(stage: str, elapsed_s: float) -> dict:
    return {"kind": "progress", "stage": stage, "elapsed_s": elapsed_s, "intended_journeys_per_s": 6.0,
            "achieved_journeys_per_s": 5.5, "requests_per_s": 91.7, "p95_ms": 611.4, "failures": 3}


def test_a_progress_line_says_what_the_stage_is_doing():
    line = format_progress(_progress("300%", 12.34), 60.0)
    assert line == ("[300%]  12.3/60 s  journeys/s 6.00 intended 5.50 achieved  req/s 91.7  "
                    "P95 of all requests so far 611 ms  errors 3")
    assert "so far -" in format_progress({**_progress("100%", 0.0), "p95_ms": None}, None)


def test_in_a_log_progress_is_printed_every_ten_seconds_and_at_the_stage_end():
    console, buffer = _console()
    printer = ProgressPrinter(console, {"100%": 30.0, "200%": 30.0})
    for elapsed_s in range(0, 30, 2):
        printer.on_event(_progress("100%", float(elapsed_s)))
    printer.on_event({"kind": "stage_end", "stage": "100%"})
    printer.on_event(_progress("[warm]", 0.5))
    printer.on_event({"kind": "platform_exit", "returncode": -9})
    printer.close()
    lines = buffer.getvalue().splitlines()
    assert [line.split()[0:2] for line in lines[:4]] == [["[100%]", "0.0/30"], ["[100%]", "10.0/30"],
                                                        ["[100%]", "20.0/30"], ["[100%]", "28.0/30"]]
    assert lines[4].startswith("[[warm]]   0.5 s") and lines[5] == "platform exited with code -9"
    assert len(lines) == 6


def test_the_summary_shows_each_stage_and_each_target():
    results = {
        "run_id": "r1", "verdict": "fail", "invalid_reasons": ["generator CPU at 97% in 300%"],
        "stages": [{"name": "100%", "intended_journeys_per_s": 2.0, "achieved_journeys_per_s": 1.98,
                    "dropped_arrivals": 4, "requests": {"count": 1234, "failures": 6, "availability": 0.99514,
                                                        "p50_ms": 40.2, "p95_ms": 18.6, "p99_ms": 41.0},
                    "api": {"count": 800, "p50_ms": 60.2, "p95_ms": 180.6, "p99_ms": 410.0},
                    "generator": {"cpu_percent_max": 55.0}}],
        "targets": [{"id": "api-p95", "status": "fail", "measured": 2300.5, "ci_low": 2100.0, "ci_high": 2500.0,
                     "threshold": 2100.0, "unit": "ms", "explanation": "api p95 at 300% above 2.10 s [doc ch.2]"}],
    }
    console, buffer = _console()
    print_summary(console, results)
    text = buffer.getvalue()
    for expected in ("100%", "2.00", "1.98", "1234", "99.51%", "181", "410", "55%", "api-p95",
                     "2.30 s", "api p95 at 300% above 2.10 s [doc ch.2]", "verdict: fail",
                     "invalid: generator CPU at 97% in 300%"):
        assert expected in text, expected
    # the percentiles are the API scope's, and say so; the all-requests P95 (19 ms) is not shown as "P95"
    assert "API P95 ms" in text and " 19 " not in text
