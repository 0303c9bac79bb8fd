"""Distributed campaigns across real hosts: network namespaces on one machine (tests/distributed/netns.py).

The platform stands on a "staging" host (``harness shop --bind``), the master in the root
namespace, workers on hosts of their own (``harness worker --master``). Distance between the
generators and the platform comes from a delaying TCP relay (this kernel has no netem). Every
process is bounded and the namespaces are removed even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.campaign._helpers import REPO, harness_env, write_profile_file
from tests.distributed import netns
from tests.distributed.relay import DelayRelay

REASON = netns.unavailable_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

TOKEN = "distributed-test-join-token"
DELAY_S = 0.020
BOUND_S = 180  # every harness process here is bounded


def _free_port(host: str) -> int:
    import socket
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def _env(**extra: str) -> dict[str, str]:
    return {**harness_env(), **extra}


@pytest.fixture(scope="module")
def hosts():
    with netns.Hosts(["staging", "w1", "w2", "w3"]) as made:
        yield made
    assert made.leftovers() == [], "namespaces or links left behind"


@pytest.fixture(scope="module")
def platform(hosts, tmp_path_factory):
    """The shop and gateway on the staging host's own address (harness shop --bind)."""
    folder = tmp_path_factory.mktemp("staging")
    port_file = folder / "port.json"
    proc = hosts.popen("staging", _harness("shop", "--bind", hosts.address("staging"), "--port-file", str(port_file),
                                           "--data-dir", str(folder / "data"), "--seed", "3"),
                       cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not port_file.exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline, "the staging platform did not start within 90 s"
        time.sleep(0.2)
    info = json.loads(port_file.read_text())
    assert info["shop_url"].startswith(f"http://{hosts.address('staging')}:")
    yield info
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


def _shop_requests_total(shop_url: str) -> float:
    """The shop's own count of shoppers' requests (its /metrics), read from the root namespace."""
    import urllib.request

    from harness.execute.scrape import parse_shop_metrics
    with urllib.request.urlopen(shop_url + "/metrics", timeout=5) as response:  # noqa: S310 - a test host
        return parse_shop_metrics(response.read().decode())["requests_total"]


def _start_worker(hosts, name: str, master: str, **env: str) -> subprocess.Popen:
    return hosts.popen(name, _harness("worker", "--master", master), cwd=REPO,
                       env=_env(**{"HARNESS_JOIN_TOKEN": TOKEN, **env}), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _campaign(hosts, target: str, out: Path, profile: Path, workers: dict[str, dict], wait_s: float = 60,
              during=None, expect: int | None = None, extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, dict[str, tuple[int, str]]]:
    """A campaign from the root namespace against ``target``, its master bound on the root's
    address, with one ``harness worker`` per entry of ``workers`` (host -> extra environment)."""
    port = _free_port(hosts.root_address)
    master = f"{hosts.root_address}:{port}"
    argv = _harness("campaign", "--target", target, "--allow-host", f"{hosts.net}.0/24", "--profile", str(profile),
                    "--out", str(out), "--master-bind", master, "--expect-workers", str(expect or len(workers)),
                    "--workers-wait", str(wait_s), "--cpu-profile", "none", *extra)
    campaign = subprocess.Popen(argv, cwd=REPO, env=_env(HARNESS_JOIN_TOKEN=TOKEN), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    procs = {}
    try:
        time.sleep(1.0)  # the master binds first (workers retry anyway)
        procs = {name: _start_worker(hosts, name, master, **env) for name, env in workers.items()}
        if during is not None:
            during(out, procs)
        output, _ = campaign.communicate(timeout=BOUND_S)
        results = {}
        for name, proc in procs.items():
            try:
                text, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                text, _ = proc.communicate()
            results[name] = (proc.returncode, text)
    finally:
        for proc in [campaign, *procs.values()]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL) if proc is not campaign else proc.kill()
                except ProcessLookupError:
                    pass
                proc.wait()
    return subprocess.CompletedProcess(argv, campaign.returncode, output, ""), results


def _rows(path: Path) -> list[dict]:
    import csv
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def _sent_per_stage(worker_output: str) -> dict[str, int]:
    """The counts a worker logged of the requests it sent (loadtests.recorder, at quitting)."""
    for line in worker_output.splitlines():
        if "sent requests per stage:" in line:
            return json.loads(line.split("sent requests per stage:", 1)[1])
    raise AssertionError(f"no sent-requests line in the worker's output:\n{worker_output[-3000:]}")


@pytest.fixture(scope="module")
def remote_run(hosts, platform, tmp_path_factory):
    """Two workers on two hosts against the staging platform 20 ms away (the relay); worker w1's
    clock reads 0.3 s ahead (test-only skew), within the limit: measured and corrected."""
    folder = tmp_path_factory.mktemp("remote")
    profile = write_profile_file(folder, name="remote", rate=3.0, stages=[("100%", 1.0, 9.0), ("200%", 2.0, 8.0)],
                                 drain_s=4.0)
    shop = platform["shop_url"].removeprefix("http://")
    host, port = shop.split(":")
    with DelayRelay((hosts.root_address, 0), (host, int(port)), DELAY_S) as relay:
        result, workers = _campaign(hosts, relay.url, folder / "run", profile,
                                    {"w1": {"HARNESS_TEST_CLOCK_SKEW_S": "0.3"}, "w2": {}})
    return folder / "run", profile, result, workers


@pytest.fixture(scope="module")
def near_run(platform, tmp_path_factory):
    """The same platform with no distance: one local generator in the root namespace."""
    from tests.campaign._helpers import run_harness
    folder = tmp_path_factory.mktemp("near")
    profile = write_profile_file(folder, name="near", rate=3.0, stages=[("100%", 1.0, 9.0)], drain_s=4.0)
    address = platform["shop_url"].removeprefix("http://").split(":")[0]
    result = run_harness("campaign", "--target", platform["shop_url"], "--allow-host", address,
                         "--profile", str(profile), "--out", str(folder / "run"), "--cpu-profile", "none")
    return folder / "run", result


def test_two_workers_on_two_hosts_merge_every_record(hosts, remote_run):
    run, _, result, workers = remote_run
    assert result.returncode in (0, 1), result.stdout[-4000:]
    assert "worker joined" in result.stdout
    for name, (code, text) in workers.items():
        assert code == 0, f"{name}:\n{text[-3000:]}"
    rows = _rows(run / "requests.csv")
    results = json.loads((run / "results.json").read_text())
    assert results["invalid_reasons"] == []
    generators = results["generators"]
    assert len(generators["workers"]) == 2 and generators["refused"] == []
    assert {w["host"] for w in generators["workers"]} == {hosts.address("w1"), hosts.address("w2")}
    sent = {name: _sent_per_stage(text) for name, (_, text) in workers.items()}
    for stage in ("100%", "200%"):
        merged = sum(r["stage"] == stage for r in rows)
        assert merged == sum(s.get(stage, 0) for s in sent.values()) > 0, (stage, sent)
    for worker in generators["workers"]:  # per worker too: what it says it sent is what was merged
        assert worker["sent_requests"] == worker["merged_requests"]
    # the merged histograms agree with every raw row (the analysis cross-checks them and notes a difference)
    assert not [n for n in results["notes"] if "histogram" in n.lower()], results["notes"]
    assert {r["worker"] for r in rows} == {"0", "1"}


def test_a_worker_clock_ahead_is_measured_and_its_records_land_on_the_master_clock(remote_run):
    from harness.config.profile import load_profile
    from loadtests.arrivals import intended_arrivals

    run, profile_path, result, _ = remote_run
    planned = next(e for e in _events(run) if e["kind"] == "workers_planned")
    offsets = {w["name"]: w["clock"]["offset_s"] for w in planned["workers"]}
    skewed = [w for w in planned["workers"] if abs(w["clock"]["offset_s"] - 0.3) < 0.02]
    assert len(skewed) == 1, offsets
    assert all(abs(w["clock"]["offset_s"]) < 0.02 for w in planned["workers"] if w not in skewed), offsets
    # each worker's visits were intended exactly when the plan says, on the master's clock
    t0 = next(e for e in _events(run) if e["kind"] == "run_start")["t0_s"]
    profile = load_profile(profile_path)
    visits = [j for j in _rows(run / "journeys.csv") if j["name"] == "visit"]
    for worker in planned["workers"]:
        index = int(worker["worker"])
        planned_t = [t0 + a.offset_s for a in intended_arrivals(profile, process_index=index, process_count=2)]
        recorded = sorted(float(v["intended_t_s"]) for v in visits if v["worker"] == worker["worker"])
        assert len(recorded) == len(planned_t) > 10
        # within the offset's own error bound, plus rounding
        worst = max(abs(a - b) for a, b in zip(recorded, planned_t, strict=True))
        assert worst <= worker["clock"]["error_bound_s"] + 0.002, (worker, worst)


def test_distance_between_hosts_shows_in_a_fast_route(remote_run, near_run):
    remote, _, _, _ = remote_run
    near, near_result = near_run
    assert near_result.returncode in (0, 1), near_result.stdout[-3000:]

    def p50s(run: Path) -> dict[str, float]:
        by_route: dict[str, list[float]] = {}
        for row in _rows(run / "requests.csv"):
            if row["ok"] == "1" and row["in_ramp"] == "0" and row["stage"] == "100%":
                by_route.setdefault(row["name"], []).append(float(row["response_ms"]))
        return {name: statistics.median(values) for name, values in by_route.items() if len(values) >= 20}

    near_p50, remote_p50 = p50s(near), p50s(remote)
    common = set(near_p50) & set(remote_p50)
    assert common, (near_p50, remote_p50)
    fast = min(common, key=lambda name: near_p50[name])
    expected = near_p50[fast] + DELAY_S * 1000
    assert abs(remote_p50[fast] - expected) <= 2.0, (fast, near_p50[fast], remote_p50[fast])


def test_a_host_not_on_the_allow_list_is_refused_before_any_request(hosts, platform):
    from tests.campaign._helpers import run_harness
    before = _shop_requests_total(platform["shop_url"])
    started = time.monotonic()
    result = run_harness("campaign", "--target", platform["shop_url"], "--profile",
                         str(write_profile_file(Path(platform["data_dir"]))), "--cpu-profile", "none", timeout_s=30)
    elapsed_s = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert hosts.address("staging") in result.stderr and "--allow-host" in result.stderr
    assert _shop_requests_total(platform["shop_url"]) == before
    print(f"refused in {elapsed_s:.2f} s")  # a figure for the notes, not an assertion on time


@pytest.fixture(scope="module")
def troubled_run(hosts, platform, tmp_path_factory):
    """w1's clock 3 s ahead (beyond the limit), w2 killed mid-run, w3 running other load code."""
    folder = tmp_path_factory.mktemp("troubled")
    profile = write_profile_file(folder, name="troubled", rate=3.0, stages=[("100%", 1.0, 16.0)], drain_s=3.0)
    killed = {}

    def kill_w2(out: Path, procs: dict) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            events = _events(out) if (out / "events.jsonl").exists() else []
            starts = [e for e in events if e["kind"] == "stage_start"]
            if starts and time.time() > starts[0]["t_s"] + 6:
                break
            time.sleep(0.2)
        killed["t_s"] = time.time()
        os.killpg(procs["w2"].pid, signal.SIGKILL)

    result, workers = _campaign(hosts, platform["shop_url"], folder / "run", profile,
                                {"w1": {"HARNESS_TEST_CLOCK_SKEW_S": "3.0"}, "w2": {},
                                 "w3": {"HARNESS_TEST_LOAD_CODE": "someone-elses-code"}},
                                during=kill_w2, expect=2)
    return folder / "run", result, workers, killed


def test_a_killed_worker_and_a_wrong_clock_are_reported_and_the_run_is_invalid(troubled_run):
    run, result, workers, killed = troubled_run
    assert result.returncode == 2, result.stdout[-4000:]
    assert "worker lost" in result.stdout
    results = json.loads((run / "results.json").read_text())
    assert results["verdict"] == "invalid"
    reasons = " | ".join(results["invalid_reasons"])
    assert "clock is +3.0" in reasons, reasons
    generators = results["generators"]
    lost = [w for w in generators["workers"] if w["lost_t_s"] is not None]
    assert len(lost) == 1 and lost[0]["lost_t_s"] <= killed["t_s"] + 0.1
    # the stage it was missing from offered less than it names: invalid, naming the worker
    assert f"worker {lost[0]['worker']} ({lost[0]['name']}" in reasons and "was not offered" in reasons, reasons
    lost_event = next(e for e in _events(run) if e["kind"] == "worker_lost")
    assert lost_event["t_s"] - killed["t_s"] < 15


def test_a_worker_with_other_code_is_refused_naming_both_sides_and_never_merged(troubled_run):
    run, _, workers, _ = troubled_run
    code, text = workers["w3"]
    assert code == 2, text[-3000:]
    assert "load_code 'someone-elses-code' on the worker" in text
    results = json.loads((run / "results.json").read_text())
    refused = results["generators"]["refused"]
    assert len(refused) == 1 and "on the master" in refused[0]["reason"]
    assert {r["worker"] for r in _rows(run / "requests.csv")} <= {w["worker"] for w in results["generators"]["workers"]}


def test_too_few_workers_end_the_wait_with_a_message_naming_who_joined(hosts, platform, tmp_path):
    """A process without the token reaches the port: it is refused; only one real worker joins."""
    profile = write_profile_file(tmp_path, stages=[("100%", 1.0, 4.0)])
    before = _shop_requests_total(platform["shop_url"])
    no_token = {"HARNESS_JOIN_TOKEN": "not-the-masters-token!"}
    result, workers = _campaign(hosts, platform["shop_url"], tmp_path / "run", profile,
                                {"w1": {}, "w2": no_token}, wait_s=8)
    assert result.returncode == 2, result.stdout[-3000:]
    assert "1 of 2 workers joined" in result.stdout and "wrong join token" in result.stdout
    assert workers["w2"][0] == 2 and "wrong join token" in workers["w2"][1]
    assert not (tmp_path / "run" / "results.json").exists() or json.loads(
        (tmp_path / "run" / "results.json").read_text())["verdict"] == "invalid"
    assert _shop_requests_total(platform["shop_url"]) == before  # no load was sent


@pytest.fixture(scope="module")
def https_front(hosts, platform, tmp_path_factory):
    """The staging shop behind a TLS-terminating front on the root's address, its certificate
    signed by a private CA made here (openssl): (URL, CA bundle path)."""
    import ssl
    folder = tmp_path_factory.mktemp("tls")
    address = hosts.root_address

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=harness test CA")
    (folder / "san.cnf").write_text(f"subjectAltName = IP:{address}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "front.key", "-out", "front.csr", "-subj",
            f"/CN={address}")
    openssl("x509", "-req", "-in", "front.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "front.pem", "-days", "2", "-extfile", "san.cnf")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "front.pem", folder / "front.key")
    host, port = platform["shop_url"].removeprefix("http://").split(":")
    with DelayRelay((address, 0), (host, int(port)), 0.0, tls=context) as front:
        yield front.url, folder / "ca.pem"


def test_https_is_verified_a_private_ca_needs_ca_bundle(hosts, platform, https_front, tmp_path):
    from tests.campaign._helpers import run_harness
    url, bundle = https_front
    profile = write_profile_file(tmp_path, stages=[("100%", 1.0, 4.0)], drain_s=2.0)
    allow = ["--allow-host", f"{hosts.net}.0/24"]
    before = _shop_requests_total(platform["shop_url"])
    refused = run_harness("campaign", "--target", url, *allow, "--profile", str(profile), "--out",
                          str(tmp_path / "refused"), "--cpu-profile", "none", timeout_s=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "TLS verification failed" in refused.stderr and "--ca-bundle" in refused.stderr
    assert _shop_requests_total(platform["shop_url"]) == before
    # one campaign, two worker hosts: w1 has the bundle (SSL_CERT_FILE, as docs/distributed.md
    # says), w2 has not: w1's journeys verify the certificate, w2's refuse it
    result, _ = _campaign(hosts, url, tmp_path / "run", profile,
                          {"w1": {"SSL_CERT_FILE": str(bundle)}, "w2": {}}, extra=("--ca-bundle", str(bundle)))
    assert result.returncode in (1, 2), result.stdout[-3000:]
    assert f"verified against the CA bundle {bundle}" in result.stdout
    workers = json.loads((tmp_path / "run" / "results.json").read_text())["generators"]["workers"]
    index = {w["host"]: w["worker"] for w in workers}
    rows = [r for r in _rows(tmp_path / "run" / "requests.csv")
            if not r["name"].startswith(("POST /gateway", "GET /gateway"))]
    with_bundle = [r for r in rows if r["worker"] == index[hosts.address("w1")]]
    without = [r for r in rows if r["worker"] == index[hosts.address("w2")]]
    assert with_bundle and all(r["ok"] == "1" for r in with_bundle), [r for r in with_bundle if r["ok"] != "1"][:3]
    assert without and all(r["ok"] == "0" for r in without)
    assert {r["error_kind"] for r in without} == {"connection"}  # the handshake refused: no HTTP answer


def test_the_shop_journeys_verify_tls():
    """Locust's FastHttpUser does not verify certificates unless told: ours is told."""
    import ast
    source = (REPO / "loadtests" / "shop.py").read_text()
    visitor = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == "ShopVisitor")
    assigned = {t.id: n.value for n in visitor.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    assert isinstance(assigned.get("insecure"), ast.Constant) and assigned["insecure"].value is False
