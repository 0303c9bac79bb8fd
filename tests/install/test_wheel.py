"""The project installs like a Python tool: a wheel, installed without extras into a fresh
virtual environment, runs `harness shop` and a short `harness campaign` from a temporary
directory, with no checkout anywhere on its path.

A real dependency install from the package index takes minutes here (measured: 4 min 37 s on
this 2-core machine with a local index and a warm cache), so the fresh environment gets its
dependencies another way that proves the same thing: exactly the distributions that
[project].dependencies names, and what those need in turn (their requirement closure, read from
the installed metadata), are linked into it, nothing else (no pytest, no test extra, no
checkout). `pip check` then confirms the wheel's own declared requirements are satisfied there,
and the commands run in it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tests.install._install import (
    FIRST_PARTY,
    REPO,
    declared_dependencies,
    link_distributions,
    requirement_closure,
)

pytestmark = pytest.mark.slow

TINY_PROFILE = """# a few seconds of light load: the smallest campaign that runs every part
[profile]
name = "tiny"
nominal_journeys_per_s = 2.0
max_concurrent_journeys = 20
journey_timeout_s = 10.0
time_scale = 0.1
drain_s = 3.0
[[stages]]
name = "100%"
load_factor = 1.0
duration_s = 3.0
ramp_s = 0.5
"""


def _run(argv, timeout_s: float = 300, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout_s, check=False,
                          **kwargs)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user's shell with the venv active: no PYTHONPATH, nothing of ours."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HARNESS_INVOKED_FROM")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["COLUMNS"] = "200"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the sources, install it without extras into a fresh venv
    whose only other distributions are the declared dependencies' closure; timings included."""
    timings: dict[str, float] = {}
    work = tmp_path_factory.mktemp("wheel")
    start = time.monotonic()
    source = work / "source"  # a copy: the build writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, source / name)
    for package in FIRST_PARTY:
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = work / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", source, "-w", wheels])
    (wheel,) = wheels.glob("shop_harness-*.whl")
    timings["build_wheel_s"] = time.monotonic() - start

    start = time.monotonic()
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    closure = requirement_closure(declared_dependencies())
    missing = link_distributions(closure, site)
    assert not missing, f"declared dependencies not installed in this environment: {missing}"
    pip = [sys.executable, "-m", "pip", "--python", python]
    _run([*pip, "install", "-q", "--no-deps", "--no-index", wheel])
    check = subprocess.run([str(a) for a in [*pip, "check"]], capture_output=True, text=True, timeout=120)
    timings["install_s"] = time.monotonic() - start
    return {"venv": venv, "python": python, "site": site, "closure": closure, "pip_check": check,
            "timings": timings, "work": work}


def test_the_declared_dependencies_satisfy_the_wheel(installed):
    """pip check in the fresh venv: every requirement of the wheel (and of what it pulls in) is
    there; no test-only distribution was linked in."""
    check = installed["pip_check"]
    assert check.returncode == 0, check.stdout + check.stderr
    # (pytest itself is there: the declared pytest-benchmark needs it)
    assert not {"hypothesis", "ruff", "jsonschema", "shop-harness"} & installed["closure"]
    assert not (installed["site"] / "hypothesis").exists()


def test_the_installed_harness_imports_nothing_from_the_checkout(installed, tmp_path):
    code = ("import harness, profiles, scenarios, loadtests, services;"
            "from harness.config import paths;"
            "print(harness.__file__); print(paths.default_path(paths.TARGETS))")
    done = _run([installed["python"], "-c", code], cwd=tmp_path, env=_clean_env(installed["venv"]))
    for line in done.stdout.split():
        assert str(installed["site"]) in line and str(REPO) not in line, done.stdout


def test_shop_and_a_campaign_run_from_a_temporary_directory(installed, tmp_path):
    """`harness shop --port 0 --port-file F` answers /healthz on 127.0.0.1 and stops on SIGTERM;
    `harness campaign --profile tiny.toml` (the shipped mix, targets and locustfile) writes a run
    directory with results.json."""
    venv, env = installed["venv"], _clean_env(installed["venv"])
    harness = venv / "bin" / "harness"
    timings = dict(installed["timings"])

    start = time.monotonic()
    port_file, log_path = tmp_path / "shop.json", tmp_path / "shop.log"
    with open(log_path, "wb") as log:
        shop = subprocess.Popen([str(harness), "shop", "--port", "0", "--port-file", str(port_file)], cwd=tmp_path,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            assert shop.poll() is None, f"harness shop exited {shop.returncode}: {log_path.read_text()}"
            assert time.monotonic() < deadline, "harness shop wrote no port file within 120 s"
            time.sleep(0.2)
        shop_url = json.loads(port_file.read_text(encoding="utf-8"))["shop_url"]
        assert shop_url.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{shop_url}/healthz", timeout=10) as response:
            assert response.status == 200
    finally:
        if shop.poll() is None:
            os.killpg(shop.pid, signal.SIGTERM)
        try:
            shop.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(shop.pid, signal.SIGKILL)
            shop.wait()
    assert shop.returncode == 0, log_path.read_text()
    timings["shop_s"] = time.monotonic() - start

    start = time.monotonic()
    (tmp_path / "tiny.toml").write_text(TINY_PROFILE, encoding="utf-8")
    done = subprocess.run([str(harness), "campaign", "--profile", "tiny.toml", "--out", "run", "--cpu-profile", "none"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    timings["campaign_s"] = time.monotonic() - start
    output = done.stdout[-4000:] + done.stderr[-4000:]
    results_path = tmp_path / "run" / "results.json"
    assert results_path.is_file(), f"exit {done.returncode}, no results.json:\n{output}"
    results = json.loads(results_path.read_text(encoding="utf-8"))
    assert done.returncode in (0, 1), f"exit {done.returncode} (verdict {results.get('verdict')}):\n{output}"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert str(installed["site"]) in str(results.get("targets_file") or manifest.get("targets_file")), manifest
    print("install test timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    assert sysconfig.get_paths()["purelib"] != str(installed["site"])
