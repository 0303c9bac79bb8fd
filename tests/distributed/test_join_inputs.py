"""Bad inputs of the distributed flags: a clear error naming the flag, before anything starts."""

from __future__ import annotations

import pytest

from harness.cli import main


@pytest.fixture
def no_token(monkeypatch):
    monkeypatch.delenv("HARNESS_JOIN_TOKEN", raising=False)


def _error(capsys) -> str:
    return capsys.readouterr().err


def test_a_worker_without_a_token_is_refused_naming_both_ways_to_give_one(no_token, capsys):
    assert main(["worker", "--master", "127.0.0.1:5557"]) == 2
    err = _error(capsys)
    assert "HARNESS_JOIN_TOKEN" in err and "--join-token-file" in err


@pytest.mark.parametrize("master, needle", [
    ("127.0.0.1:notaport", "not a number"),
    ("127.0.0.1:70000", "1-65535"),
    (":5557", "give an address"),
])
def test_a_bad_master_address_names_the_flag(master, needle, capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_JOIN_TOKEN", "a-token-of-this-test")
    assert main(["worker", "--master", master]) == 2
    err = _error(capsys)
    assert "--master" in err and needle in err


def test_a_short_token_file_names_the_file(tmp_path, no_token, capsys):
    token = tmp_path / "token"
    token.write_text("short\n")
    assert main(["worker", "--master", "127.0.0.1", "--join-token-file", str(token)]) == 2
    err = _error(capsys)
    assert str(token) in err and "16 characters" in err


@pytest.mark.parametrize("flags, needle", [
    (["--expect-workers", "2"], "--expect-workers needs --master-bind"),
    (["--master-bind", "127.0.0.1:5999"], "--master-bind needs --expect-workers"),
    (["--master-bind", "192.0.2.77", "--expect-workers", "1"], "cannot listen there"),
    (["--master-bind", "127.0.0.1", "--expect-workers", "1", "--workers-wait", "0"], "--workers-wait"),
])
def test_bad_master_flags_are_named_before_anything_starts(flags, needle, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["campaign", "--profile", "profiles/smoke.toml", "--out", str(out), *flags]) == 2
    assert needle in _error(capsys)
    assert not out.exists()  # nothing was created, nothing started


@pytest.mark.parametrize("flags, needle", [
    (["--metrics-url", "http://127.0.0.1:9/metrics"], "--metrics-url is for a platform the harness did not start"),
    (["--prometheus", "http://127.0.0.1:9090"], "--prometheus URL and --selector"),
    (["--target", "http://127.0.0.1:9", "--prometheus", "http://127.0.0.1:9090", "--selector", "job=shop"],
     "--selector"),
])
def test_bad_telemetry_flags_are_named(flags, needle, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["campaign", "--profile", "profiles/smoke.toml", "--out", str(out), *flags]) == 2
    assert needle in _error(capsys)
    assert not out.exists()


def test_a_metrics_url_off_the_allow_list_is_refused(tmp_path, capsys):
    assert main(["run", "--locustfile", "loadtests/healthz.py", "--host", "http://127.0.0.1:9",
                 "--metrics-url", "http://192.0.2.9:9100/metrics", "--out", str(tmp_path / "r")]) == 2
    err = _error(capsys)
    assert "--metrics-url http://192.0.2.9:9100/metrics: refused before any connection" in err
