"""Memory growth of a platform on another host, from its /metrics (``--metrics-url``).

The shop stands on a "staging" namespace with the leak knob on; the campaign runs in the root
namespace against it and sees its memory only through Prometheus text (the harness cannot
sample a process on another host). The truth is the shop's own count of the bytes it retained
(``shop_leaked_bytes``), read before and after. The suite's run is short with a strong leak; the
issue's 5-minute run at 0.5 GB/h is behind HARNESS_SOAK=1 (``make soak-test``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.campaign._helpers import REPO, harness_env, run_harness, write_profile_file
from tests.distributed import netns

REASON = netns.unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
SOAK = os.environ.get("HARNESS_SOAK") == "1"


def _leaked_bytes(shop_url: str) -> tuple[float, float]:
    """(now, the shop's shop_leaked_bytes gauge)."""
    with urllib.request.urlopen(shop_url + "/metrics", timeout=5) as response:  # noqa: S310 - a test host
        text = response.read().decode()
    value = next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("shop_leaked_bytes"))
    return time.time(), value


@contextlib.contextmanager
def _metrics_url(shop_url: str, _address: str, _folder):
    yield ["--metrics-url", shop_url + "/metrics"]


@contextlib.contextmanager
def _prometheus(shop_url: str, _address: str, folder):
    """A real Prometheus server (Debian's, installed by scripts/prometheus.sh) on a free loopback
    port, scraping the staging shop's /metrics every second as job "shop"."""
    found = subprocess.run(["bash", str(REPO / "scripts" / "prometheus.sh"), "path"], capture_output=True,
                           text=True, timeout=600, check=False)
    if found.returncode != 0:
        pytest.skip(f"Prometheus unavailable: {found.stderr.strip().splitlines()[-1:]}")
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = folder / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n"
                      f"  - job_name: shop\n    static_configs:\n      - targets: ['{shop_url.removeprefix('http://')}']\n")
    server = subprocess.Popen([found.stdout.strip(), f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "Prometheus did not start"
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.3)
        yield ["--prometheus", url, "--selector", '{job="shop"}']
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def _leaking_shop(folder, leak_bytes_per_request: int):
    """The shop on a "staging" host of its own (``harness shop --bind``) with the leak knob on:
    (its URL, its address). The namespace is removed afterwards, checked."""
    with netns.Hosts(["staging"]) as hosts:
        address = hosts.address("staging")
        faults = folder / "leak.toml"
        faults.write_text(f"[shop]\nleak_bytes_per_request = {leak_bytes_per_request}\n")
        port_file = folder / "port.json"
        shop = hosts.popen("staging", [sys.executable, "-m", "harness", "shop", "--bind", address, "--faults",
                                       str(faults), "--port-file", str(port_file), "--data-dir",
                                       str(folder / "data")],
                           cwd=REPO, env=harness_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while not port_file.exists():
            assert shop.poll() is None and time.monotonic() < deadline, "the staging shop did not start"
            time.sleep(0.2)
        yield json.loads(port_file.read_text())["shop_url"], address
        shop.send_signal(signal.SIGINT)
        shop.wait(timeout=30)
    assert hosts.leftovers() == []


def _campaign_on(shop, folder, duration_s: float, rate: float, telemetry=_metrics_url):
    """A campaign against the staging shop with ``telemetry``'s flags: (result, run dir, the
    shop's own retained bytes per hour, fitted over the window the harness judged)."""
    url, address = shop
    profile = write_profile_file(folder, name="remote-leak", rate=rate, stages=[("100%", 1.0, duration_s)],
                                 drain_s=3.0)
    with telemetry(url, address, folder) as flags, _GaugeFollower(url) as gauge:
        result = run_harness("campaign", "--target", url, "--allow-host", address, *flags,
                             "--profile", str(profile), "--out", str(folder / "run"), "--cpu-profile", "none",
                             timeout_s=duration_s + 150)
    memory = json.loads((folder / "run" / "results.json").read_text())["memory"] \
        if (folder / "run" / "results.json").exists() else {}
    start_s, end_s = memory.get("window_t_s") or (0.0, float("inf"))
    points = [(t, v) for t, v in gauge.points if start_s <= t <= end_s]
    assert len(points) >= 10, gauge.points[:3]
    return result, folder / "run", _slope(points) * 3600.0


def _leak_run(folder, leak_bytes_per_request: int, duration_s: float, rate: float, telemetry=_metrics_url):
    with _leaking_shop(folder, leak_bytes_per_request) as shop:
        return _campaign_on(shop, folder, duration_s, rate, telemetry)


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / sum((t - mean_t) ** 2 for t, _ in points)


class _GaugeFollower:
    """Reads the shop's shop_leaked_bytes once a second in a thread while the campaign runs."""

    def __init__(self, shop_url: str) -> None:
        import threading
        self.url, self.points = shop_url, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.points.append(_leaked_bytes(self.url))
            except OSError:
                pass


@pytest.fixture(scope="module")
def staging_shop(tmp_path_factory):
    # ~37 shop requests/s at 2 journeys/s: 60 kB each is ~7 GB/h, clear of noise within 30 s
    with _leaking_shop(tmp_path_factory.mktemp("staging-leak"), 60_000) as shop:
        yield shop


@pytest.fixture(scope="module")
def leak_runs(staging_shop, tmp_path_factory):
    """Two campaigns at once against the staging shop, one seeing its memory through
    --metrics-url, the other through a real Prometheus server (started first, so that both loads
    cover the same span): {"metrics-url": (result, run dir, truth), "prometheus": ...}. Both load
    the one shop, so it leaks for both; each run's truth is the shop's own gauge fitted over the
    window that run judged, the same span its figure covers."""
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path_factory.mktemp("prometheus")
    runs: dict = {}
    with contextlib.ExitStack() as stack:
        try:
            prometheus_flags = stack.enter_context(_prometheus(*staging_shop, folder))
        except pytest.skip.Exception as skipped:  # no Prometheus here: only its own test is skipped
            runs["prometheus"], prometheus_flags = skipped, None
        with ThreadPoolExecutor(max_workers=2) as pool:
            metrics = pool.submit(_campaign_on, staging_shop, tmp_path_factory.mktemp("remote-leak"), 30.0, 2.0)
            if prometheus_flags is not None:
                read_back = pool.submit(_campaign_on, staging_shop, folder, 30.0, 2.0,
                                        lambda *_: contextlib.nullcontext(prometheus_flags))
                runs["prometheus"] = read_back.result()
            runs["metrics-url"] = metrics.result()
    return runs


@pytest.fixture(scope="module")
def leak_run(leak_runs):
    return leak_runs["metrics-url"]


def test_remote_memory_growth_from_metrics_url_matches_what_the_shop_retained(leak_run):
    result, run, truth = leak_run
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    memory = json.loads((run / "results.json").read_text())["memory"]
    assert memory["metric"].startswith("process_resident_memory_bytes from --metrics-url")
    growth = memory["growth_bytes_per_hour"]
    print(f"remote growth {growth / 1e9:.3f} GB/h, retained by the shop {truth / 1e9:.3f} GB/h")
    assert truth > 1e9
    assert abs(growth - truth) <= 0.25 * truth, (growth, truth)
    rows = (run / "platform" / "remote_metrics.csv").read_text().splitlines()
    assert rows[0] == "t_s,instance,scrape_ms,error,rss_bytes,cpu_seconds,start_time_s" and len(rows) > 25
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["remote_metrics"]["failures"] == 0


def test_a_remote_run_has_the_shop_s_own_metrics_too(leak_run):
    """The first --metrics-url also feeds platform/metrics.csv (cache counters, monitoring delay)."""
    _, run, _ = leak_run
    lines = (run / "platform" / "metrics.csv").read_text().splitlines()
    assert len(lines) > 20 and all(line.split(",")[2] == "" for line in lines[1:])  # no scrape error


@pytest.mark.skipif(not SOAK, reason="the issue's 5-minute remote leak run: HARNESS_SOAK=1 (make soak-test)")
@pytest.mark.timeout(900)
def test_five_minutes_at_half_a_gigabyte_per_hour(tmp_path):
    # 0.5 GB/h = 138,889 B/s; this profile sends the shop ~37.5 requests/s (measured: 9,300 B per
    # request retained 1.27 GB/h), so ~3.7 kB per request
    result, run, truth = _leak_run(tmp_path, 3_700, 300.0, 2.0)
    assert result.returncode in (0, 1), result.stdout[-3000:]
    growth = json.loads((run / "results.json").read_text())["memory"]["growth_bytes_per_hour"]
    print(f"5 min: remote growth {growth / 1e9:.3f} GB/h, retained {truth / 1e9:.3f} GB/h, knob aimed at 0.5 GB/h")
    assert abs(truth - 0.5e9) <= 0.1 * 0.5e9  # the knob did leak about 0.5 GB/h
    assert abs(growth - truth) <= 0.25 * truth  # and the harness saw it from the platform's /metrics


def test_remote_memory_from_a_real_prometheus_server(leak_runs):
    """The same, with the process series read after the run from a Prometheus server's query_range."""
    if isinstance(leak_runs["prometheus"], BaseException):
        pytest.skip(str(leak_runs["prometheus"]))
    result, run, truth = leak_runs["prometheus"]
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["prometheus"]["error"] is None and manifest["prometheus"]["points"] > 15
    memory = json.loads((run / "results.json").read_text())["memory"]
    assert memory["metric"].startswith("process_resident_memory_bytes from Prometheus http://127.0.0.1:")
    assert '{job="shop"}' in memory["metric"]
    growth = memory["growth_bytes_per_hour"]
    print(f"Prometheus: growth {growth / 1e9:.3f} GB/h, retained by the shop {truth / 1e9:.3f} GB/h")
    assert abs(growth - truth) <= 0.25 * truth, (growth, truth)
