"""Bad inputs fail fast with exit 2 and a message naming the file, field or flag, before any
load starts (no run directory is written). The CLI runs in-process here (these checks start no
process; the subprocess path is covered in test_stub_runs.py), so each case takes milliseconds."""

from __future__ import annotations

import socket

import pytest

from harness.cli import main
from tests.campaign._helpers import STUB_LOCUSTFILE


@pytest.fixture
def run_harness(capsys):
    """Run the CLI in this process; returns (exit code, stderr)."""

    def run(*args: str, timeout_s: float = 0):
        code = main(list(args))
        return code, capsys.readouterr().err

    return run

STUB = ["--locustfile", str(STUB_LOCUSTFILE)]


def _no_run(out):
    assert not (out / "manifest.json").exists(), "a run directory was started"


def test_missing_profile_names_the_file(tmp_path, run_harness):
    out = tmp_path / "run"
    code, err = run_harness("campaign", "--profile", str(tmp_path / "nope.toml"), "--out", str(out), *STUB)
    assert code == 2, err
    assert "nope.toml" in err and "not found" in err
    _no_run(out)


@pytest.mark.parametrize(("extra", "stage", "field"), [
    ("colour = \"red\"", None, "colour"),
    ("", ("100%", -1.0, 5.0), "load_factor"),
])
def test_bad_profile_field_is_named(tmp_path, write_profile, run_harness, extra, stage, field):
    profile = write_profile(extra=extra, stages=[stage] if stage else None)
    out = tmp_path / "run"
    code, err = run_harness("campaign", "--profile", str(profile), "--out", str(out), *STUB)
    assert code == 2, err
    assert str(profile) in err and field in err
    _no_run(out)


def test_negative_rate_is_named(tmp_path, write_profile, run_harness):
    profile = write_profile(rate=-3)
    code, err = run_harness("run", "--locustfile", str(STUB_LOCUSTFILE), "--host", "http://127.0.0.1:9",
                         "--profile", str(profile), "--out", str(tmp_path / "run"))
    assert code == 2
    assert str(profile) in err and "nominal_journeys_per_s" in err
    _no_run(tmp_path / "run")


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000", "http://192.0.2.1:9"])
def test_non_loopback_target_is_refused(tmp_path, write_profile, run_harness, url):
    """Not on the allow-list: refused naming the flag, the host, its address and the flag to allow it."""
    out = tmp_path / "run"
    code, err = run_harness("campaign", "--profile", str(write_profile()), "--target", url, "--out", str(out), *STUB)
    assert code == 2
    host = url.split("//")[1]
    assert "--target" in err and "not on the allow-list" in err and f"--allow-host {host}" in err
    _no_run(out)


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["campaign", "run"])
def test_unreachable_target_fails_with_a_clear_message(tmp_path, write_profile, run_harness, command):
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{_dead_port()}"
    flags = ["--target", url, *STUB] if command == "campaign" else ["--host", url, "--locustfile", str(STUB_LOCUSTFILE)]
    code, err = run_harness(command, "--profile", str(write_profile()), "--out", str(out), *flags, timeout_s=60)
    assert code == 2
    assert url in err and "unreachable" in err
    _no_run(out)


def test_target_that_is_not_healthy_is_refused(tmp_path, write_profile, tiny_service, run_harness):
    url = tiny_service(503)
    out = tmp_path / "run"
    code, err = run_harness("campaign", "--profile", str(write_profile()), "--target", url, "--out", str(out), *STUB)
    assert code == 2
    assert "HTTP 503" in err and "/healthz" in err
    _no_run(out)


@pytest.mark.parametrize(("flags", "named"), [
    (["--workers", "-1"], "--workers"),
    (["--cpu-profile", "900%"], "--cpu-profile"),
    (["--targets", "/nonexistent/targets.toml"], "--targets"),
    (["--faults", "/nonexistent/faults.toml"], "--faults"),
    (["--locustfile", "/nonexistent/locustfile.py"], "--locustfile"),
    (["--sut-pid", "4194304"], "--sut-pid"),  # above Linux's pid_max
    (["--sut-pid", "1"], "--sut-pid"),  # a real process, but the embedded platform is sampled anyway
])
def test_bad_flags_are_named(tmp_path, write_profile, run_harness, flags, named):
    out = tmp_path / "run"
    base = [*STUB] if "--locustfile" not in flags else []
    code, err = run_harness("campaign", "--profile", str(write_profile()), "--out", str(out), *base, *flags)
    assert code == 2
    assert named in err
    _no_run(out)


def test_unwritable_output_directory_is_named_before_any_load(tmp_path, write_profile, tiny_service, run_harness):
    url = tiny_service()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "run"
    code, err = run_harness("campaign", "--profile", str(write_profile()), "--target", url, "--out", str(out), *STUB)
    assert code == 2
    assert str(out) in err and "not writable" in err


def test_faults_with_an_external_target_are_refused(tmp_path, write_profile, tiny_service, run_harness):
    url = tiny_service()
    code, err = run_harness("campaign", "--profile", str(write_profile()), "--target", url, "--faults",
                         "documented-problems", "--out", str(tmp_path / "run"), *STUB)
    assert code == 2 and "--faults" in err
    _no_run(tmp_path / "run")


def test_worker_port_out_of_range_is_named(run_harness):
    code, err = run_harness("worker", "--master", "127.0.0.1", "--master-port", "70000",
                            "--locustfile", str(STUB_LOCUSTFILE))
    assert code == 2 and "--master-port 70000" in err
