"""`harness shop`: flag and fault-file errors (exit 2 naming the flag/file/key), gunicorn
workers + a TOML fault file + signMethod 01 + memray capture, clean SIGINT, a dying child,
and PostgreSQL (skipped unless a server is given)."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from harness.cli import main as harness_main
from services.demo_client import checkout_journey
from tests.platform._helpers import http, start_platform, stop_platform


@pytest.mark.parametrize(("argv", "named"), [
    (["--workers", "0"], "--workers"),
    (["--time-scale", "0"], "--time-scale"),
    (["--time-scale", "nan"], "--time-scale"),
    (["--port", "70000"], "--port"),
    (["--faults", "no-such-preset"], "--faults"),
    (["--database", "mysql://localhost/x"], "--database"),
    (["--admin-token", "short"], "--admin-token"),
    (["--memray-out", "/no/such/dir/capture.bin"], "--memray-out"),
])
def test_bad_flags_exit_2_naming_the_flag(argv, named, capsys, tmp_path):
    assert harness_main(["shop", "--data-dir", str(tmp_path), *argv]) == 2
    assert named in capsys.readouterr().err


@pytest.mark.parametrize(("toml", "named"), [
    ("[shop]\ncache_enabled = 'no'\n", "shop.cache_enabled"),
    ("[gateway]\ntimeout_rate_before_commit = 2\n", "gateway.timeout_rate_before_commit"),
    ("[gateway.notify]\nloss = 0.5\n", "gateway.notify.loss"),
    ("[shops]\n", "shops"),
    ("preset = 'nope'\n", "preset"),
    ("not toml [", "not valid TOML"),
])
def test_bad_fault_files_exit_2_naming_file_and_key(toml, named, capsys, tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text(toml)
    assert harness_main(["shop", "--data-dir", str(tmp_path), "--faults", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and named in err


def _process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.mark.slow
def test_workers_fault_file_rsa_and_memray_then_clean_sigint(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text('preset = "healthy"\n[shop]\ncache_enabled = false\n'
                      '[shop.latency."GET /api/categories"]\nkind = "fixed"\nms = 5\n'
                      '[gateway]\nunknown_result_s = 30\n[gateway.notify]\nduplicate_rate = 1.0\n')
    capture = tmp_path / "shop.memray"
    platform = start_platform(tmp_path, "--workers", "2", "--faults", str(faults), "--sign-method", "01",
                              "--memray-out", str(capture))
    try:
        info = json.loads(platform.port_file.read_text())
        assert info["workers"] == 2 and info["faults"] == str(faults) and info["pid"] == platform.process.pid
        assert {p["role"] for p in info["processes"]} == {"shop", "gateway"}
        shop_knobs = http().get(f"{platform.shop_url}/admin/faults", headers=platform.admin).json()
        assert shop_knobs["cache_enabled"] is False
        assert shop_knobs["latency"]["GET /api/categories"] == {"kind": "fixed", "ms": 5}
        gateway_knobs = http().get(f"{platform.gateway_url}/sim/faults", headers=platform.admin).json()
        assert gateway_knobs["notify"]["duplicate_rate"] == 1.0 and gateway_knobs["unknown_result_s"] == 30
        order = checkout_journey(platform.shop_url, seed=5, log=lambda _line: None)
        assert order["status"] == "PAID"
        exported = platform.export()[order["order_id"]]
        assert len(exported["payments"]) == 1
        tree = _process_tree(platform.process.pid)
        assert len(tree) >= 5  # harness, gateway, gunicorn master, 2 workers
    finally:
        platform.process.send_signal(signal.SIGINT)
        code = platform.process.wait(timeout=60)
    assert code == 0
    time.sleep(0.2)
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    captures = [p for p in tmp_path.iterdir() if p.name.startswith("shop.memray")]
    assert captures and all(p.stat().st_size > 0 for p in captures)


def test_a_dying_child_makes_harness_shop_exit_2_naming_it(tmp_path):
    platform = start_platform(tmp_path)
    info = json.loads(platform.port_file.read_text())
    gateway_pid = next(p["pid"] for p in info["processes"] if p["role"] == "gateway")
    os.kill(gateway_pid, signal.SIGKILL)
    code = platform.process.wait(timeout=60)
    assert code == 2
    out = (tmp_path / "harness-shop.out").read_text()
    assert "gateway process exited" in out
    shop_pid = next(p["pid"] for p in info["processes"] if p["role"] == "shop")
    assert not psutil.pid_exists(shop_pid) or psutil.Process(shop_pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.postgres
def test_postgres_backend(tmp_path):
    url = os.environ.get("SHOP_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set SHOP_TEST_POSTGRES_URL=postgresql://... to run the shop on PostgreSQL")
    platform = start_platform(tmp_path, "--database", url)
    try:
        assert checkout_journey(platform.shop_url, seed=9, log=lambda _line: None)["status"] == "PAID"
    finally:
        assert stop_platform(platform) == 0
