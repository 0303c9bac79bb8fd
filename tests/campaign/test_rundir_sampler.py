"""The run directory store, the event tail, the loopback check and the process sampler, on real
files and real processes."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.config.allow import Safety, check_target_allowed
from harness.config.inputs import check_target
from harness.errors import InputError, RunFailedError
from harness.execute.sampler import SAMPLE_COLUMNS, ProcessSampler
from harness.rundir import EventLog, EventTail, RunDirectory, make_run_id, read_jsonl


def test_run_id_has_time_profile_and_suffix():
    run_id = make_run_id("step 300/x", datetime(2026, 11, 28, 17, 0, 5, tzinfo=UTC), "a1b2")
    assert run_id == "20261128T170005Z-step-300-x-a1b2"


def test_manifest_is_running_at_start_and_completed_at_the_end(tmp_path):
    run_dir = RunDirectory.create("quick", tmp_path / "run")
    run_dir.write_start_manifest(argv=["harness", "campaign"], profile={"name": "quick"}, stages=[],
                                 target=None, embedded_platform=True, workers=0, faults="healthy",
                                 targets_file=None)
    started = run_dir.read_manifest()
    assert (started["ended_at"], started["end_reason"], started["schema_version"]) == (None, "running", 1)
    assert started["host"]["cores"] >= 1 and started["versions"]["python"]
    assert started["git_revision"]
    run_dir.events.append("run_start", t0_s=1234.5)
    run_dir.finish("completed", sampler={"ticks": 3})
    ended = run_dir.read_manifest()
    assert ended["end_reason"] == "completed" and ended["ended_at"] and ended["t0_s"] == 1234.5
    assert ended["sampler"] == {"ticks": 3} and ended["run_id"] == started["run_id"]
    assert [e["kind"] for e in run_dir.read_events()] == ["run_start", "run_end"]
    assert not [p.name for p in run_dir.path.iterdir() if p.name.endswith(".tmp")]


def test_unknown_end_reason_is_refused(tmp_path):
    run_dir = RunDirectory.create("quick", tmp_path / "run")
    with pytest.raises(ValueError, match="end_reason"):
        run_dir.finish("exploded")


def test_unwritable_output_directory_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(InputError, match=str(blocker / "run")):
        RunDirectory.create("quick", blocker / "run")


def test_an_existing_run_is_never_overwritten(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InputError, match="already holds a run"):
        RunDirectory.create("quick", tmp_path)


def test_event_tail_waits_for_a_whole_line(tmp_path):
    path = tmp_path / "events.jsonl"
    log, tail = EventLog(path), EventTail(path)
    assert tail.read_new() == []
    log.append("stage_start", stage="100%")
    with open(path, "a") as handle:
        handle.write('{"t_s": 1, "kind": "prog')  # a line being written
    assert [e["kind"] for e in tail.read_new()] == ["stage_start"]
    with open(path, "a") as handle:
        handle.write('ress", "stage": "100%"}\n')
    assert [e["kind"] for e in tail.read_new()] == ["progress"]
    assert tail.read_new() == []


def test_a_torn_last_line_is_skipped_when_reading(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"t_s": 1, "kind": "run_start"}\n{"t_s": 2, "ki')
    assert read_jsonl(path) == [{"t_s": 1, "kind": "run_start"}]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.0.0.2:1/", "http://localhost:9",
                                 "https://[::1]:8443"])
def test_loopback_urls_are_accepted(url):
    assert check_target_allowed(url, "--target", Safety()).url == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://192.0.2.1:9", "ftp://127.0.0.1/",
                                 "127.0.0.1:8000", "http://0.0.0.0:8000"])
def test_other_urls_are_refused_naming_the_flag(url):
    with pytest.raises(InputError, match="--target"):
        check_target_allowed(url, "--target", Safety())


def test_a_port_with_nothing_listening_is_unreachable():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RunFailedError, match="unreachable"):
        check_target(f"http://127.0.0.1:{port}", "--target")


TREE_SCRIPT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_sampler_follows_a_process_tree_with_roles(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", TREE_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        sampler = ProcessSampler(tmp_path / "samples.csv", interval_s=0.2)
        sampler.watch(parent.pid, "shop", child_role="shop-worker")
        sampler.start()
        deadline = time.monotonic() + 20
        while sampler.cost().ticks < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        cost = sampler.stop()
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    rows = _rows(tmp_path / "samples.csv")
    assert list(rows[0]) == list(SAMPLE_COLUMNS)
    roles = {int(r["pid"]): r["role"] for r in rows}
    assert roles == {parent.pid: "shop", child_pid: "shop-worker"}
    for row in rows:
        assert int(row["rss_bytes"]) > 0 and int(row["uss_bytes"]) > 0
        assert int(row["num_threads"]) >= 1 and int(row["num_fds"]) >= 3
        assert float(row["cpu_percent"]) >= 0.0 and float(row["t_s"]) > 1.7e9
    assert cost.ticks >= 3 and cost.rows == len(rows) and cost.cpu_s > 0


def test_a_declared_descendant_keeps_its_role_and_dead_ones_drop_out(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", TREE_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        sampler = ProcessSampler(tmp_path / "samples.csv")
        sampler.watch(parent.pid, "shop", child_role="shop-worker")
        sampler.watch(child_pid, "gateway")
        sampler.start()
        sampler.stop()
        first = {int(r["pid"]): r["role"] for r in _rows(tmp_path / "samples.csv")}
        import os
        import signal
        os.kill(child_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the parent has not reaped it: a zombie, not sampled
            try:
                with open(f"/proc/{child_pid}/stat") as stat:
                    if stat.read().split(") ")[1].startswith("Z"):
                        break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        again = ProcessSampler(tmp_path / "again.csv")
        again.watch(parent.pid, "shop", child_role="shop-worker")
        again.start()
        again.stop()
        second = {int(r["pid"]) for r in _rows(tmp_path / "again.csv")}
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    assert first == {parent.pid: "shop", child_pid: "gateway"}
    assert second == {parent.pid}


def test_the_harness_itself_can_be_sampled_as_a_generator(tmp_path):
    sampler = ProcessSampler(tmp_path / "samples.csv")
    import os
    sampler.watch(os.getpid(), "generator", include_children=False)
    sampler.start()
    sampler.stop()
    rows = _rows(tmp_path / "samples.csv")
    assert rows and all(r["role"] == "generator" and int(r["rss_bytes"]) > 0 for r in rows)
