"""harness.measure.memory.memory_results on run directories: samples.csv, events, memray captures."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.measure import memory, memray_sites

T0_S = 1_790_000_000.0


def write_run(run_dir: Path, rows: list[list], events: list[dict] | None = None) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "samples.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "pid", "role", "rss_bytes", "uss_bytes", "cpu_percent", "num_threads", "num_fds"])
        writer.writerows(rows)
    if events is not None:
        (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


def platform_rows(n: int, leak_bytes_per_s: float, *, uss: bool = True) -> list[list]:
    """A shop master, one worker, the gateway and the generator, at 1 Hz; only the worker leaks."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        t_s = f"{T0_S + k:.3f}"
        worker = 8e7 + leak_bytes_per_s * k + rng.normal(0, 2e5)
        for pid, role, value in [(100, "shop", 5e7), (101, "shop-worker", worker),
                                 (200, "gateway", 4e7 + 1e6 * k), (300, "generator", 9e7 + 5e6 * k)]:
            rows.append([t_s, pid, role, int(value * 1.3), int(value) if uss else "", 10.0, 4, 12])
    return rows


def test_growth_is_the_platform_uss_sum_within_the_stages(tmp_path):
    # GIVEN 200 s of samples; the gateway and the generator grow fast but are not the platform;
    # the load (stages) runs from 20 s to 180 s
    leak = 5e8 / 3600
    run_dir = write_run(tmp_path / "run", platform_rows(200, leak), [
        {"t_s": T0_S + 20, "kind": "stage_start", "stage": "100%"},
        {"t_s": T0_S + 180, "kind": "stage_end", "stage": "100%"},
    ])
    # WHEN
    result = memory.memory_results(run_dir)
    # THEN only shop + shop-worker USS counts, over the stage window
    assert result["metric"].startswith("uss summed")
    assert "gateway" not in result["metric"] and "generator" not in result["metric"]
    assert result["growth_bytes_per_hour"] == pytest.approx(5e8, rel=0.05)
    assert result["ci_low"] <= 5e8 <= result["ci_high"]
    assert result["window_t_s"] == [T0_S + 20, T0_S + 180]
    assert result["duration_s"] <= 160
    assert result["plateau"] is False
    assert result["min_duration_s_to_detect_0_1GB_per_h"] > 0
    assert result["stages"][0]["stage"] == "100%"
    assert result["leak_sites"] == [] and result["flamegraph"] is None


def test_rss_is_used_when_uss_could_not_be_read(tmp_path):
    run_dir = write_run(tmp_path / "run", platform_rows(60, 1e5, uss=False))
    result = memory.memory_results(run_dir)
    assert result["metric"].startswith("rss summed")
    assert result["growth_bytes_per_hour"] == pytest.approx(1.3 * 1e5 * 3600, rel=0.1)


def test_no_samples_means_no_memory_block(tmp_path):
    (tmp_path / "run").mkdir()
    assert memory.memory_results(tmp_path / "run") is None
    # header only, or only the generator sampled
    write_run(tmp_path / "run2", [])
    assert memory.memory_results(tmp_path / "run2") is None
    write_run(tmp_path / "run3", [[T0_S, 1, "generator", 1, 1, 0, 1, 1]])
    assert memory.memory_results(tmp_path / "run3") is None


def test_too_few_samples_say_why(tmp_path):
    run_dir = write_run(tmp_path / "run", platform_rows(5, 1e4))
    result = memory.memory_results(run_dir)
    assert result["growth_bytes_per_hour"] is None
    assert "samples.csv" in result["reason"] and "at least 8" in result["reason"]


def test_a_samples_file_missing_a_column_is_named(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "samples.csv").write_text("t_s,pid,role,rss_bytes\n1,2,shop,3\n")
    result = memory.memory_results(run_dir)
    assert result["growth_bytes_per_hour"] is None
    assert "samples.csv" in result["error"] and "uss_bytes" in result["error"]


def test_site_attribution_skips_library_frames():
    stdlib_file = memray_sites._LIBRARY_DIRS[0] + "/json/encoder.py"
    stack = [("encode", stdlib_file, 10), ("handler", "/srv/app/views.py", 42), ("run", "/srv/app/main.py", 3)]
    assert memray_sites.site_of(stack) == ("handler", "/srv/app/views.py", 42)
    assert memray_sites.site_of(stack[:1]) == stack[0]


LEAKY_SCRIPT = textwrap.dedent('''
    import time
    KEPT = []
    CACHE = {}

    def leak_a_little():
        KEPT.append(b"x" * 50_000)  # LEAK

    def fill_cache(i):
        if len(CACHE) < 20:
            CACHE[i] = b"c" * 50_000

    for i in range(150):
        leak_a_little()
        fill_cache(i)
        time.sleep(0.02)
''')


@pytest.fixture(scope="module")
def memray_run(tmp_path_factory) -> Path:
    """A run directory with a real memray capture of a script that leaks and fills a cache."""
    run_dir = tmp_path_factory.mktemp("memray-run")
    (run_dir / "platform").mkdir()
    script = run_dir / "leaky_script.py"
    script.write_text(LEAKY_SCRIPT)
    subprocess.run([sys.executable, "-m", "memray", "run", "-q", "-o", str(run_dir / "platform" / "memray-shop.bin"),
                    str(script)], check=True, env={"PYTHONMALLOC": "malloc", "PATH": "/usr/bin:/bin"}, timeout=60)
    return run_dir


def test_memray_names_the_leaking_line_and_tells_it_from_the_cache(memray_run):
    captures = memray_sites.memray_captures(memray_run)
    assert [p.name for p in captures] == ["memray-shop.bin"]
    findings = memray_sites.memray_findings(memray_run, captures, steady_start_t_s=None)
    top = findings["leak_sites"][0]
    leak_line = next(i for i, line in enumerate(LEAKY_SCRIPT.splitlines(), 1) if "# LEAK" in line)
    assert (top["function"], Path(top["file"]).name, top["line"]) == ("leak_a_little", "leaky_script.py", leak_line)
    assert top["live_bytes"] >= 150 * 50_000
    cache = next(s for s in findings["leak_sites"] if s["function"] == "fill_cache")
    # both hold memory at the end; only the leak keeps growing
    assert cache["live_bytes"] >= 20 * 50_000
    assert top["growth_bytes_per_hour"] > 5 * cache["growth_bytes_per_hour"]
    assert findings["flamegraph"] == "profiles/memray-leaks-memray-shop.html"
    html = (memray_run / findings["flamegraph"]).read_text()
    assert "leak_a_little" in html
    capture = findings["memray"]["captures"][0]
    assert capture["has_history"] and capture["python_allocator"] == "malloc"


def test_memray_findings_are_cached_until_a_capture_changes(memray_run):
    captures = memray_sites.memray_captures(memray_run)
    first = memray_sites.memray_findings(memray_run, captures, steady_start_t_s=None)
    cache = memray_run / "profiles" / memray_sites.SITES_CACHE
    data = json.loads(cache.read_text())
    data["findings"]["leak_sites"][0]["function"] = "from-the-cache"
    cache.write_text(json.dumps(data))
    assert memray_sites.memray_findings(memray_run, captures, None)["leak_sites"][0]["function"] == "from-the-cache"
    cache.unlink()
    assert memray_sites.memray_findings(memray_run, captures, None) == first


def test_a_torn_capture_is_reported_not_fatal(tmp_path):
    run_dir = write_run(tmp_path / "run", platform_rows(30, 1e4))
    (run_dir / "platform").mkdir()
    (run_dir / "platform" / "memray-shop.bin.4242").write_bytes(b"not a capture")
    result = memory.memory_results(run_dir)
    assert result["growth_bytes_per_hour"] is not None
    assert result["leak_sites"] == []
    assert "memray-shop.bin.4242" in result["memray"]["errors"][0]


def test_forked_children_captures_are_found_and_other_files_are_not(tmp_path):
    platform = tmp_path / "platform"
    (platform / "sub").mkdir(parents=True)
    for name in ["memray-shop.bin", "memray-shop.bin.1234", "sub/other.bin.99", "memray-shop.bin.tmp",
                 "shop.db", "notes.binary"]:
        (platform / name).write_bytes(b"x")
    found = [p.relative_to(platform).as_posix() for p in memray_sites.memray_captures(tmp_path)]
    assert found == ["memray-shop.bin", "memray-shop.bin.1234", "sub/other.bin.99"]
