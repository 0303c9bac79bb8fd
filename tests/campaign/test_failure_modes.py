"""The harness survives what it provokes (issue 7): each failure mode gives a clear message, its
exit code, and a run directory that stays readable, or none at all when the failure comes
before any load.

Covered here (the others are in test_inputs.py, test_stub_runs.py, test_campaign_platform.py
and tests/load/): a target that answers garbage, a full disk while recording (a file that
raises ENOSPC after N bytes, and a real tmpfs filled mid-run when this machine lets us mount
one), a malformed targets file, and malformed or truncated raw files for ``harness report`` /
``harness check``.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import RunFailedError
from harness.rundir import SPACE_RESERVE_NAME, RunDirectory, read_jsonl, write_json_atomic
from loadtests import records
from loadtests.records import REQUEST_COLUMNS, Recorder, RunWriter
from tests.campaign._helpers import (
    REPO,
    STUB_LOCUSTFILE,
    finish,
    read_json,
    run_harness,
    start_harness,
    wait_for_event,
    write_profile_file,
)

GARBAGE_SERVICE = REPO / "tests" / "fixtures" / "garbage_service.py"
ERROR_KINDS = {"business", "http_4xx", "http_5xx", "timeout", "connection"}


# --- fixtures -----------------------------------------------------------------------------------
def _start_garbage_service(folder: Path) -> tuple[subprocess.Popen, str]:
    port_file = folder / "garbage.port"
    proc = subprocess.Popen([sys.executable, str(GARBAGE_SERVICE), str(port_file)])
    deadline = time.monotonic() + 20
    while not port_file.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("the garbage service did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


@pytest.fixture(scope="module")
def garbage_url(tmp_path_factory):
    """A loopback service: /healthz 200, garbage to everything else."""
    proc, url = _start_garbage_service(tmp_path_factory.mktemp("garbage"))
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def garbage_run(tmp_path_factory, garbage_url):
    """One real campaign (the shop's journeys) against the garbage service: (result, run dir)."""
    folder = tmp_path_factory.mktemp("garbage-run")
    profile = write_profile_file(folder, rate=3.0, stages=[("100%", 1.0, 5.0)], drain_s=2.0,
                                 journey_timeout_s=5.0)
    out = folder / "run"
    result = run_harness("campaign", "--profile", str(profile), "--target", garbage_url, "--out", str(out))
    return result, out


@pytest.fixture
def cli(capsys):
    """The CLI in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _tmp_files(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name]


def _copy_run(run_dir: Path, to: Path) -> Path:
    copy = to / "run-copy"
    shutil.copytree(run_dir, copy)
    return copy


# --- a target that answers garbage ------------------------------------------------------------------
def test_a_target_answering_garbage_gives_a_failed_verdict_not_a_crash(garbage_run):
    result, out = garbage_run
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]  # ran, measured, and a target failed
    assert "Traceback" not in output
    manifest = read_json(out / "manifest.json")
    assert manifest["end_reason"] == "completed" and manifest["ended_at"], manifest["end_detail"]
    results = read_json(out / "results.json")
    assert results["verdict"] == "fail" and not results["invalid_reasons"]
    requests = results["stages"][0]["requests"]
    assert requests["count"] > 0 and requests["availability"] < 0.5
    assert set(requests["errors_by_kind"]) <= ERROR_KINDS and requests["errors_by_kind"].get("business", 0) > 0
    availability = next(t for t in results["targets"] if t["id"] == "availability")
    assert availability["status"] == "fail" and "availability" in availability["explanation"]
    with open(out / "requests.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["ok"] == "0" and r["error_kind"] in ERROR_KINDS for r in rows)
    assert "verdict: fail" in output and str(out) in output
    assert (out / "report.html").read_text().rstrip().endswith("</html>")
    assert "business" in (out / "report.html").read_text()  # the errors by kind
    assert "availability: fail" in (out / "report.md").read_text()
    assert not _tmp_files(out) and not (out / SPACE_RESERVE_NAME).exists()


# --- a malformed targets file: named with its line, before any load ---------------------------
@pytest.mark.parametrize(("text", "line", "what"), [
    ('[[target]]\nid = "x"\nmetric = \n', 3, "invalid TOML"),
    ('[[target]]\nid = "avail"\nexpr = "availability >= 99%"\nscope = "api"\nsource = "test"\n\n[[target]]\n'
     'id = "p95"\nexpr = "p95 <= 2s"\nsource = "test"\ncolour = "red"\n', 11, "colour"),
])
def test_a_malformed_targets_file_is_named_with_its_line_before_any_load(tmp_path, garbage_url, cli, text, line,
                                                                         what):
    targets = tmp_path / "bad-targets.toml"
    targets.write_text(text)
    profile = write_profile_file(tmp_path)
    for command in (["campaign", "--target", garbage_url, "--locustfile", str(STUB_LOCUSTFILE)],
                    ["run", "--host", garbage_url, "--locustfile", str(STUB_LOCUSTFILE)]):
        out = tmp_path / f"run-{command[0]}"
        code, stdout, err = cli(*command, "--profile", str(profile), "--targets", str(targets), "--out", str(out))
        assert code == 2, err
        assert f"{targets}:{line}:" in err and what in err and "--targets" in err
        assert not out.exists(), "a run directory was started"
        assert "run directory" not in stdout


# --- a full disk while recording --------------------------------------------------------------------
class _FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails every write with ENOSPC (as a full disk does)."""

    def __init__(self, path: Path, room: int) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        taken = bytes(data[: self.room])  # a partial write, as the kernel does at the edge
        self.room -= len(taken)
        return self._file.write(taken)

    def close(self) -> None:
        self._file.close()
        super().close()


def test_the_recorder_stops_writing_at_a_full_disk_and_keeps_what_was_flushed(tmp_path, monkeypatch):
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        if Path(path).name == "requests.csv":
            return io.TextIOWrapper(io.BufferedWriter(_FullDisk(Path(path), 3000), buffer_size=512),
                                    encoding="utf-8", newline="")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(records, "open", full_disk_open, raising=False)
    writer = RunWriter(tmp_path)
    recorder = Recorder("local", writer)
    flushed = 0
    for i in range(400):  # far more than 3000 bytes of rows: the disk fills on the way
        recorder.request(1_700_000_000 + i * 0.01, "100%", False, "GET /api/products", "GET", 12.5, True, 200, "",
                         100, f"j{i}")
        if i % 10 == 9:
            writer.flush()  # never raises: the failure is kept for the recorder to act on
            if writer.failure is None:
                flushed = i + 1
    recorder.journey("v1", "v1", "visit", "100%", False, 10.0, 10.5, 12.0, True, "completed")
    writer.write_histograms(["100%"])
    writer.close()
    assert writer.failure == f"cannot write {tmp_path / 'requests.csv'}: No space left on device"
    data = (tmp_path / "requests.csv").read_bytes()
    assert len(data) == 3000
    lines = data.decode().split("\n")
    assert lines[0] == ",".join(REQUEST_COLUMNS)
    complete = lines[1:-1]  # the last line is torn at the edge of the disk: the analysis skips it
    assert len(complete) >= flushed > 0
    assert all(len(row) == len(REQUEST_COLUMNS) for row in csv.reader(complete))
    # after the failure every file is cut, not carrying rows with a gap before them
    assert (tmp_path / "journeys.csv").read_text().splitlines() == [",".join(records.JOURNEY_COLUMNS)]
    assert not _tmp_files(tmp_path)


def test_a_result_file_that_cannot_be_written_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"verdict": "pass"})

    def no_space(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("harness.rundir.layout.os.fsync", no_space)
    with pytest.raises(RunFailedError, match=f"cannot write {path}: No space left on device"):
        write_json_atomic(path, {"verdict": "fail", "big": "x" * 100_000})
    assert read_json(path) == {"verdict": "pass"}
    assert not _tmp_files(tmp_path)


def test_a_torn_events_line_does_not_swallow_the_run_end(tmp_path):
    run_dir = RunDirectory.create("quick", tmp_path / "run")
    run_dir.write_start_manifest(argv=["harness"], profile={"name": "quick"}, stages=[], target=None,
                                 embedded_platform=True, workers=0, faults=None, targets_file=None)
    assert (run_dir.path / SPACE_RESERVE_NAME).stat().st_size > 0  # room kept for the end
    with open(run_dir.path / "events.jsonl", "a") as handle:
        handle.write('{"t_s": 1.0, "kind": "progress", "sta')  # the recorder died mid-line
    run_dir.finish("error", "recording stopped")
    assert [e["kind"] for e in read_jsonl(run_dir.path / "events.jsonl")] == ["run_end"]
    assert run_dir.read_manifest()["end_reason"] == "error"
    assert not (run_dir.path / SPACE_RESERVE_NAME).exists()


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=20, check=False)
    except OSError as error:
        pytest.skip(f"cannot mount a tmpfs to fill ({error}): the full-disk run is covered only by the "
                    "simulated ENOSPC tests")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill ({done.stderr.strip()}): the full-disk run is covered "
                    "only by the simulated ENOSPC tests")


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(bytes(64 * 1024))
        except OSError as error:
            assert error.errno == errno.ENOSPC
        try:
            while True:
                handle.write(bytes(512))
        except OSError:
            pass


@pytest.mark.slow
def test_a_disk_filled_mid_run_stops_the_run_with_a_clear_message(tmp_path, garbage_url):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "16m")
    try:
        out = disk / "run"
        profile = write_profile_file(tmp_path, rate=10.0, stages=[("100%", 1.0, 60.0)], drain_s=2.0,
                                     journey_timeout_s=5.0)
        proc = start_harness("campaign", "--profile", str(profile), "--target", garbage_url, "--out", str(out))
        try:
            wait_for_event(out / "events.jsonl", "progress", timeout_s=60)
        except AssertionError:
            proc.kill()
            raise
        _fill(disk)
        code, output = finish(proc, timeout_s=90)
        assert code == 2, output[-3000:]
        assert "Traceback" not in output
        assert "recording stopped" in output and str(out) in output and "disk full" in output
        manifest = read_json(out / "manifest.json")  # marked on the room the run directory kept
        assert manifest["end_reason"] == "error" and manifest["ended_at"]
        assert "recording stopped" in manifest["end_detail"] and "bytes free" in manifest["end_detail"]
        assert manifest["generator_returncode"] == records.RECORDING_FAILED_EXIT
        assert not _tmp_files(out), "a half-written file was left"
        for name in ("results.json",):
            if (out / name).exists():
                json.loads((out / name).read_text())
        if (out / "report.html").exists():
            assert (out / "report.html").read_text().rstrip().endswith("</html>")
        (disk / "filler").unlink()
        # with room again, the kept raw files judge as an invalid run (it ended in error)
        code, report = run_harness("report", str(out)).returncode, read_json(out / "results.json")
        assert code == 0 and report["verdict"] == "invalid"  # rendered; `harness check` exits 2
        assert any("recording stopped" in reason for reason in report["invalid_reasons"])
        assert report["stages"][0]["requests"]["count"] > 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20, check=False)


# --- malformed or truncated raw files for harness report / harness check -------------------------
def test_a_torn_last_line_is_tolerated(garbage_run, tmp_path, cli):
    run = _copy_run(garbage_run[1], tmp_path)
    with open(run / "requests.csv", "a") as handle:
        handle.write("1764349200.5,100%,0,GET /api/pro")  # the recorder was killed mid-row
    with open(run / "events.jsonl", "a") as handle:
        handle.write('{"t_s": 1764349200.5, "kind": "prog')
    code, out, err = cli("check", str(run))
    assert code == 1, err  # the same verdict as the whole file gives
    results = json.loads((run / "results.json").read_text())  # check leaves results.json as it was
    assert results == read_json(garbage_run[1] / "results.json")
    code, out, err = cli("report", str(run))
    assert code == 0, err  # rendered (`harness check` gave the verdict's 1 above)
    notes = read_json(run / "results.json")["notes"]
    assert any("requests.csv" in note and "incomplete" in note for note in notes)


def _corrupt_line(path: Path, line_number: int, text: str) -> None:
    lines = path.read_text().split("\n")
    lines[line_number - 1] = text
    path.write_text("\n".join(lines))


@pytest.mark.parametrize(("name", "line", "garbage", "expected"), [
    ("requests.csv", 3, "1764349200.5,100%,0,GET /x,GET,not-a-number,0,200,business,0,j,local", "response_ms"),
    ("requests.csv", 2, "\x00\x01 binary garbage \xff", "t_s"),
    ("journeys.csv", 2, "j1,v1,visit,no-such-stage,0,1764349200.5,,,,,0,failed,,,local", "stage"),
    ("requests.csv", 4, "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", "column"),  # too many fields
    # an unterminated quote: pandas' tokenizer names the row in its own words, not FILE:LINE
    ("requests.csv", 3, '1764349200.5,"100%,0,GET /x', "cannot be read as CSV: Error tokenizing data"),
])
@pytest.mark.parametrize("command", ["report", "check"])
def test_garbage_in_the_middle_names_file_and_line_and_overwrites_nothing(garbage_run, tmp_path, cli, command,
                                                                          name, line, garbage, expected):
    run = _copy_run(garbage_run[1], tmp_path)
    _corrupt_line(run / name, line, garbage)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != name}
    code, out, err = cli(command, str(run), *(["--write"] if command == "check" else []))
    assert code == 2, out + err
    assert expected in err
    assert f"{run / name}:{line}:" in err if "tokenizing" not in expected else f"{run / name}: " in err
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != name}
    assert after == before, "a derived file was rewritten from a malformed run"
    assert not _tmp_files(run)


@pytest.mark.parametrize("command", ["report", "check"])
def test_a_truncated_manifest_is_named(garbage_run, tmp_path, cli, command):
    run = _copy_run(garbage_run[1], tmp_path)
    text = (run / "manifest.json").read_text()
    (run / "manifest.json").write_text(text[: len(text) // 2])
    results_before = (run / "results.json").read_bytes()
    code, out, err = cli(command, str(run))
    assert code == 2
    assert f"{run / 'manifest.json'} is not valid JSON" in err
    assert (run / "results.json").read_bytes() == results_before
