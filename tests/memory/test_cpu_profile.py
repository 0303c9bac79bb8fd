"""harness.execute.cpu_profile: py-spy on a real busy process, and the pure speedscope helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from harness.execute import cpu_profile

BUSY = textwrap.dedent('''
    import time

    def spin():
        deadline = time.time() + 30
        while time.time() < deadline:
            sum(i * i for i in range(2000))

    spin()
''')


@pytest.fixture
def busy_process(tmp_path):
    script = tmp_path / "busy.py"
    script.write_text(BUSY)
    proc = subprocess.Popen([sys.executable, str(script)])
    time.sleep(0.5)
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def test_profile_of_a_busy_process_names_its_hot_function(busy_process, tmp_path):
    profiler = cpu_profile.CpuProfiler([busy_process.pid, busy_process.pid], tmp_path / "profiles")
    profiler.start()
    time.sleep(2.0)
    result = profiler.stop()
    if result["error"] and "ptrace" in result["error"]:
        pytest.skip(f"no ptrace permission here: {result['error']}")
    assert result["ok"], result["error"]
    assert result["speedscope"] == [f"profiles/cpu-{busy_process.pid}.speedscope.json"]
    assert result["flamegraph_svg"] == [f"profiles/cpu-{busy_process.pid}.svg"]
    svg = (tmp_path / result["flamegraph_svg"][0]).read_text()
    assert svg.startswith("<svg") and "spin" in svg
    assert result["samples"] > 20
    hot = {f["function"] for f in result["top_functions"][:3]}
    assert hot & {"spin", "<genexpr>"}
    assert sum(f["own_fraction"] for f in result["top_functions"]) == pytest.approx(1.0, abs=0.05)


def test_a_process_that_is_gone_is_reported_and_nothing_breaks(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=10)
    profiler = cpu_profile.CpuProfiler([proc.pid], tmp_path / "profiles")
    profiler.start()
    result = profiler.stop()
    assert result["ok"] is False
    assert str(proc.pid) in result["error"] and "not running" in result["error"]
    assert result["top_functions"] == []


def test_missing_py_spy_is_said_plainly(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_profile, "py_spy_path", lambda: None)
    profiler = cpu_profile.CpuProfiler([1], tmp_path)
    profiler.start()
    result = profiler.stop()
    assert result["ok"] is False and "py-spy is not installed" in result["error"]


def test_attach_failure_message_carries_the_ptrace_hint(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("Error: Permission Denied: Try running again with elevated permissions\n")
    message = cpu_profile.CpuProfiler._attach_error(42, 1, log)
    assert "pid 42" in message and "CAP_SYS_PTRACE" in message


SPEEDSCOPE = {
    "shared": {"frames": [{"name": "main", "file": "app.py", "line": 1},
                          {"name": "handler", "file": "app.py", "line": 10},
                          {"name": "json_dumps", "file": "lib.py", "line": 5}]},
    "profiles": [
        {"type": "sampled", "samples": [[0, 1], [0, 1, 2], [0, 1, 2], [0]], "weights": [0.01] * 4},
        {"type": "sampled", "samples": [[0, 1, 2]], "weights": [0.01]},
        {"type": "evented", "events": []},
    ],
}


def test_own_time_is_the_innermost_frame():
    stacks = cpu_profile.speedscope_stacks(json.loads(json.dumps(SPEEDSCOPE)))
    own = cpu_profile.own_samples(stacks)
    assert own[("json_dumps", "lib.py", 5)] == 3
    assert own[("handler", "app.py", 10)] == 1
    assert own[("main", "app.py", 1)] == 1
    assert sum(own.values()) == 5


def test_flamegraph_svg_has_a_box_per_frame_and_escapes_names():
    stacks = [((("<module>", "a.py", 1), ("f<&>", "a.py", 2)), 3.0), ((("<module>", "a.py", 1),), 1.0)]
    svg = cpu_profile.flamegraph_svg(stacks, title="t")
    assert svg.count("<rect") == 2
    assert "f&lt;&amp;&gt;" in svg and "f<&>" not in svg
    assert "(4 samples)" in svg
