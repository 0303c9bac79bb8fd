"""One run, from inputs to exit code: the flow shared by ``harness campaign`` and ``harness run``.

    validate inputs ─► run directory + manifest ─► platform (embedded, unless a target is given)
      ─► sampler ─► Locust (local or master + workers) ─► live progress ─► stop load ─► stop
      platform ─► manifest end ─► judge ─► report ─► summary ─► exit code

Failures along the way never lose what was measured: SIGINT/SIGTERM stop the load gracefully
(end_reason ``interrupted``, exit 130), a platform that dies mid-run is recorded and the load
runs on (end_reason ``platform-died``), and every child process has a hard deadline.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.console import Console

from harness.config.profile import Profile
from harness.errors import EXIT_INTERRUPTED, EXIT_INVALID, RunFailedError
from harness.execute.locust_process import LoadPlan, LocustRun
from harness.execute.platform_process import EmbeddedPlatform, StartCancelled
from harness.execute.sampler import ProcessSampler
from harness.flows.live import drive
from harness.flows.preflight import preflight_only, print_preflight  # noqa: F401 - preflight_only: the flows' API
from harness.report.summary import print_summary
from harness.rundir import RunDirectory, read, schema

SETTLE_TIMEOUT_S = 30.0  # waiting for in-flight payments to settle before reconciling


class ServiceUnderTest(Protocol):
    """A service the harness starts for one run instead of the embedded platform (``harness
    leak``'s --sut-cmd, harness.flows.leak.CommandService): started once the run directory
    exists, its processes sampled, watched for an exit nobody asked for, stopped after the load
    and before the run is judged (so profilers' captures are complete)."""

    def start(self, run_dir: RunDirectory, cancelled: Callable[[], bool]) -> str:
        """Start it and wait until it answers; its base URL. RunFailedError / StartCancelled."""

    def pids(self) -> list[tuple[str, int]]:
        """(role, pid) to sample, with their descendants."""

    def poll(self) -> int | None:
        """Its exit code, None while it runs."""

    def stop(self) -> int | None:
        """Stop it; its exit code."""


@dataclass
class RunRequest:
    """Everything one run needs, validated first (harness.config.inputs)."""

    argv: list[str]
    profile: Profile
    locustfile: str
    target: str | None = None  # None: start the embedded platform
    workers: int = 0  # Locust workers (0: one local runner)
    platform_workers: int | None = None
    faults: str | None = None
    out: Path | None = None
    targets_path: Path | None = None
    strict: bool = False
    memray: bool = False
    cpu_profile_stage: str | None = None
    database: str | None = None
    sut_pids: tuple[int, ...] = ()  # processes of a service the harness did not start, sampled as "sut"
    faults_schedule: tuple = ()  # harness.execute.fault_schedule.FaultSpec, applied to the embedded platform
    recorder_options: bool = True
    render_report: bool = True  # False: results.json only (no report.html/.md, junit.xml, charts); `harness report DIR` renders it later
    extra: dict = field(default_factory=dict)
    service: ServiceUnderTest | None = None  # started by the harness instead of the embedded platform
    locust_env: dict[str, str] = field(default_factory=dict)  # extra environment of the Locust processes
    scrape_metrics: bool = True  # scrape the target's /metrics (the shop's) into platform/metrics.csv
    checked_target: object | None = None  # harness.config.allow.CheckedTarget: the target passed the safety catch
    safety: object | None = None  # harness.config.allow.Safety: allow-list and TLS settings
    preflight_only: bool = False
    shop_journeys: bool = True  # the shop's journeys (requests per journey estimated from the mix)
    health_path: str = "/healthz"  # what [abort] health_failures polls on the target
    master: object | None = None  # harness.flows.distributed.MasterOptions: workers from other hosts
    metrics_urls: tuple[str, ...] = ()  # --metrics-url: a remote platform's processes, scraped during the run
    prometheus: tuple[str, str, float] | None = None  # --prometheus URL, --selector, step: read after the run

    @property
    def distributed(self) -> bool:
        return bool(self.workers or (self.master is not None and self.master.remote_workers))


@dataclass
class RunOutcome:
    """How a run ended: its directory, end reason, derived results and exit code."""

    run_dir: Path
    end_reason: str
    exit_code: int
    results: dict | None = None
    detail: str = ""


def default_console() -> Console:
    """stdout, 160 columns wide when it is not a terminal (CI logs keep whole table rows)."""
    # markup off: paths, log tails and error messages may hold "[...]"; colour goes by style=.
    console = Console(markup=False)
    return console if console.is_terminal else Console(width=160, markup=False)


# --- the run ------------------------------------------------------------------------------------
class _Signals:
    """SIGINT/SIGTERM only set a flag: the platform start and the main loop poll it and stop in
    order. (Raising from the handler is unsafe: an exception raised inside the at-fork hooks
    that subprocess runs is printed and dropped, so the interrupt would be lost.)"""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)

    def __bool__(self) -> bool:
        return bool(self.received)


class _InterruptedBeforeLoad(Exception):
    pass


def execute(request: RunRequest, console: Console | None = None) -> RunOutcome:
    """Carry out one run end to end and return how it ended. Raises InputError only when the
    run directory cannot be created; every later failure ends the run with a reason."""
    console = console or default_console()
    profile = request.profile
    run_dir = RunDirectory.create(profile.name, request.out)
    embedded = request.target is None and request.service is None
    run_dir.write_start_manifest(
        argv=request.argv,
        profile={"path": profile.path, "name": profile.name, "content": _plain(profile.content)},
        stages=profile.stages_manifest(), target=request.target, embedded_platform=embedded,
        workers=request.workers + (request.master.remote_workers if request.master else 0),
        faults=request.faults or ("healthy" if embedded else None),
        targets_file=str(request.targets_path) if request.targets_path else None,
        extra={"locustfile": request.locustfile, "platform_workers": request.platform_workers,
               "database": request.database, **request.extra,
               **({"master": request.master.as_manifest()} if request.master and request.master.remote_workers
                  else {})},
    )
    if request.targets_path is not None:  # kept with the run, so re-judging it later uses the same targets
        shutil.copyfile(request.targets_path, run_dir.path / "targets.toml")
    console.print(f"run directory: {run_dir.path}")
    signals = _Signals()
    sampler = ProcessSampler(run_dir.samples_path)
    side = _PlatformSide(request, run_dir, sampler, console)
    load: LocustRun | None = None
    scraper = remote = load_started_s = None
    end_reason, detail, extra_manifest = "completed", "", {}
    try:
        signals.install()
        target = request.target
        if embedded:
            target = side.start_platform(cancelled=signals.__bool__)
        elif request.service is not None:
            target = side.start_service(cancelled=signals.__bool__)
        if signals:
            raise _InterruptedBeforeLoad
        for pid in request.sut_pids:
            sampler.watch(pid, "sut")
        sampler.start()
        scraper = _start_scraper(target, run_dir, console, request) if request.scrape_metrics else None
        remote = _start_remote_metrics(request, run_dir, console)
        print_preflight(request, target, run_dir, console)
        master = request.master
        load = LocustRun(LoadPlan(  # absolute paths: the children run in the repository root
            locustfile=",".join(str(Path(p).resolve()) for p in request.locustfile.split(",")), host=target,
            run_dir=run_dir.path.resolve(), duration_s=profile.total_duration_s + profile.drain_s,
            profile_path=Path(profile.path).resolve(),
            workers=request.workers, recorder_options=request.recorder_options, env=_locust_env(request),
            master_bind=master.bind if master else None,
            remote_workers=master.remote_workers if master else 0,
            **({"workers_wait_s": master.wait_s} if master else {})))
        load_started_s = time.time()
        load.start()
        if master is not None and master.remote_workers:
            console.print(f"master listening on {master.bind[0]}:{load.master_port}: waiting up to {master.wait_s:g} s "
                          f"for {master.remote_workers} worker(s); on each worker host run:")
            console.print(f"  {master.worker_command()}")
        for pid in load.pids():
            sampler.watch(pid, "generator", include_children=False)
        end_reason, detail, extra_manifest = drive(request, run_dir, load, side, signals, console, target)
    except (_InterruptedBeforeLoad, StartCancelled, KeyboardInterrupt):
        end_reason, detail = "interrupted", f"{', '.join(signals.received) or 'SIGINT'} before the load started"
        run_dir.events.append("interrupt", signal=signals.received[0] if signals.received else "SIGINT")
    except RunFailedError as error:
        end_reason, detail = "error", str(error)
    except Exception as error:  # a bug: the manifest must not claim the run completed
        end_reason, detail = "error", f"{type(error).__name__}: {error}"
        raise
    finally:
        if load is not None and load.main is not None and load.main.poll() is None:
            load.stop()
        if scraper is not None:  # before the ledgers are collected: only the load's requests count
            extra_manifest["metrics_scrape"] = scraper.stop()
        if remote is not None:
            extra_manifest["remote_metrics"] = remote.stop()
        if request.prometheus is not None and load_started_s is not None:
            extra_manifest["prometheus"] = _read_prometheus(request, run_dir, load_started_s, console)
        extra_manifest.update(side.finish(collect_ledgers=end_reason != "interrupted"))
        cost = sampler.stop()
        if side.platform is not None and side.platform.died and end_reason == "completed":
            end_reason = "platform-died"
            detail = f"the platform exited with code {side.platform.exit_returncode} during the run"
        if side.service_exit is not None and end_reason == "completed":
            end_reason = "platform-died"
            detail = f"the service under test exited with code {side.service_exit} during the run"
        run_dir.finish(end_reason, detail, sampler=cost.as_dict(), **extra_manifest)
        signals.restore()
    return _conclude(request, run_dir, end_reason, detail, console)


def _locust_env(request: RunRequest) -> dict[str, str]:
    """The Locust processes' extra environment: the CA bundle of --ca-bundle for https targets."""
    env = dict(request.locust_env)
    import secrets

    from harness.flows.distributed import TOKEN_ENV
    env[TOKEN_ENV] = request.master.token if request.master is not None else secrets.token_urlsafe(24)
    bundle = getattr(request.safety, "ca_bundle", None)
    if bundle is not None:
        env.setdefault("REQUESTS_CA_BUNDLE", str(bundle))
        env.setdefault("SSL_CERT_FILE", str(bundle))
    return env


def _read_prometheus(request: RunRequest, run_dir: RunDirectory, load_started_s: float, console: Console) -> dict:
    """--prometheus: the platform's process series over the load's window, from the server."""
    from harness.execute.prometheus_read import read_into
    url, selector, step_s = request.prometheus
    console.print(f"reading the platform's process series from {url} ({selector}) ...")
    summary = read_into(run_dir.path / schema.REMOTE_METRICS.relative_path, url, selector,
                        load_started_s - 5.0, time.time(), step_s, verify=getattr(request.safety, "verify", True))
    if summary["error"]:
        console.print(f"Prometheus: {summary['error']}", style="yellow")
    else:
        console.print(f"Prometheus: {summary['points']} points of {', '.join(summary['instances'])}")
    return summary


def _start_remote_metrics(request: RunRequest, run_dir: RunDirectory, console: Console):
    """--metrics-url: the remote platform's process series into platform/remote_metrics.csv."""
    if not request.metrics_urls:
        return None
    from harness.execute.remote_metrics import RemoteMetricsScraper
    scraper = RemoteMetricsScraper(list(request.metrics_urls), run_dir.path / schema.REMOTE_METRICS.relative_path,
                                   verify=getattr(request.safety, "verify", True))
    scraper.start()
    console.print(f"platform telemetry: scraping {', '.join(request.metrics_urls)} every second")
    return scraper


def _start_scraper(target: str, run_dir: RunDirectory, console: Console, request: RunRequest | None = None):
    """Scrape the shop's /metrics into platform/metrics.csv during the load (cache counters,
    request counter for the monitoring delay): the target's own on loopback, else the first
    --metrics-url; None, said on the console, when it cannot start."""
    from harness.execute.scrape import MetricsScraper
    urls = request.metrics_urls if request is not None else ()
    try:
        scraper = MetricsScraper(target, run_dir.path / schema.METRICS.relative_path,
                                 metrics_url=urls[0] if urls else None)
        scraper.start()
        return scraper
    except (ValueError, OSError) as error:  # the run goes on without platform metrics
        console.print(f"platform metrics not scraped: {error}", style="yellow")
        return None


class _PlatformSide:
    """The embedded platform and what acts on it during a run: process sampling, the fault
    schedule (from the recorder's t0), the CPU profile of one stage, and the ledgers for
    reconciliation once the load has stopped. Every hook is optional and never stops the run."""

    def __init__(self, request: RunRequest, run_dir: RunDirectory, sampler: ProcessSampler,
                 console: Console) -> None:
        self.request, self.run_dir, self.sampler, self.console = request, run_dir, sampler, console
        self.platform: EmbeddedPlatform | None = None
        self.service_exit: int | None = None  # the service under test's code, had it exited during the run
        self.faults = None
        self.cpu_profiler = None
        self.memray_windows = None  # harness.execute.memray_attach.MemrayWindows once the load started
        self.results: dict = {}

    def start_platform(self, cancelled) -> str:
        """Start the embedded platform, watch its processes; returns the shop URL. Raises
        StartCancelled as soon as ``cancelled()`` is true."""
        request, run_dir = self.request, self.run_dir
        extra_args: tuple[str, ...] = ("--seed", str(request.profile.seed))
        if request.database:
            extra_args += ("--database", request.database)
        # --memray attaches memray in windows during the load (_start_memray_windows), not for the whole run
        self.platform = EmbeddedPlatform(run_dir.platform_dir.resolve(), workers=request.platform_workers,
                                         faults=request.faults, events=run_dir.events, extra_args=extra_args)
        self.console.print("starting the embedded platform ...")
        _preload_verdict_modules()
        endpoints = self.platform.start(cancelled=cancelled)
        self.console.print(f"platform: shop {endpoints.shop_url}  gateway {endpoints.gateway_url}")
        self.platform.watch(lambda code: self.console.print(
            f"\nthe platform exited (code {code}) mid-run; the load goes on and records the failures",
            style="bold red"))
        self._watch_platform_processes()
        run_dir.update_manifest(target=endpoints.shop_url, platform=endpoints.as_manifest())
        return endpoints.shop_url

    def start_service(self, cancelled) -> str:
        """Start the request's service under test, sample its processes; returns its URL."""
        service = self.request.service
        url = service.start(self.run_dir, cancelled)
        for role, pid in service.pids():
            self.sampler.watch(pid, role)
        self.run_dir.update_manifest(target=url)
        self.console.print(f"service under test: {url}")
        return url

    def check_service(self) -> None:
        """Record, once, an exit of the service under test that nobody asked for; the load goes on."""
        service = self.request.service
        if service is None or self.service_exit is not None or (code := service.poll()) is None:
            return
        self.service_exit = code
        self.run_dir.events.append("platform_exit", returncode=code, role="sut")
        self.console.print(f"\nthe service under test exited (code {code}) mid-run; the load goes on and "
                           "records the failures", style="bold red")

    def _watch_platform_processes(self) -> None:
        # The supervisor (`harness shop`, not in the port file) and the shop process (the
        # gunicorn master with --workers) count as "shop", processes the shop forks as
        # "shop-worker"; every declared process keeps its declared role.
        platform = self.platform
        declared = {pid for _, pid in platform.endpoints.processes}
        for role, pid in platform.pids():
            if pid in declared:
                self.sampler.watch(pid, role, child_role="shop-worker" if role == "shop" else role)
            else:
                self.sampler.watch(pid, role)

    def restart_platform(self):
        """The fault schedule's ``restart`` action: the platform again on the same ports."""
        from harness.execute.fault_schedule import PlatformHandle
        for _, pid in self.platform.pids():
            self.sampler.unwatch(pid)
        self.platform.restart()
        self._watch_platform_processes()
        return PlatformHandle.from_port_file(self.platform.port_file, restart=self.restart_platform)

    def on_event(self, event: dict) -> None:
        """React to the recorder's events: start faults and memray's windows at run_start, profile
        the chosen stage."""
        kind = event.get("kind")
        if (kind == "run_start" and self.request.memray and self.memray_windows is None
                and (self.platform is not None or self.request.service is not None)):
            self._start_memray_windows(float(event.get("t0_s") or event.get("t_s")))
        if self.platform is None:
            return
        if kind == "run_start" and self.request.faults_schedule and self.faults is None:
            self._start_faults(float(event.get("t0_s") or event.get("t_s")))
        stage = self.request.cpu_profile_stage
        if stage and event.get("stage") == stage:
            if kind == "stage_start" and self.cpu_profiler is None and "cpu_profile" not in self.results:
                self._start_cpu_profile()
            elif kind == "stage_end":
                self._stop_cpu_profile()

    def _start_faults(self, t0_s: float) -> None:
        try:
            from harness.execute.fault_schedule import FaultSchedule, PlatformHandle
            handle = PlatformHandle.from_port_file(self.platform.port_file, restart=self.restart_platform)
            self.faults = FaultSchedule(self.request.faults_schedule, t0_s, handle, self.run_dir.events.append)
            self.faults.start()
        except Exception as error:  # noqa: BLE001 - the load goes on without faults, and says so
            self.results["fault_schedule_error"] = f"{type(error).__name__}: {error}"
            self.console.print(f"fault schedule not started: {error}", style="yellow")

    def _start_memray_windows(self, t0_s: float) -> None:
        """memray attached to the serving processes in two windows of the steady part."""
        try:
            from harness.core.memray_windows import plan_windows, steady_span_offsets
            from harness.execute.memray_attach import MemrayWindows, serving_processes
            profile = self.request.profile
            plans = plan_windows(*steady_span_offsets(profile.stages_manifest()), profile.profilers.memray_window_s)

            def processes() -> list[tuple[str, int]]:
                if self.platform is not None and self.platform.endpoints is not None:
                    return serving_processes([(r, p) for r, p in self.platform.endpoints.processes if r == "shop"])
                return serving_processes(self.request.service.pids() if self.request.service else [])

            self.memray_windows = MemrayWindows(plans, t0_s, processes, self.run_dir.path, self.run_dir.events.append)
            self.memray_windows.start()
            self.run_dir.update_manifest(memray_windows=[
                {"window": p.index, "start_offset_s": p.start_offset_s, "duration_s": p.duration_s} for p in plans])
        except Exception as error:  # noqa: BLE001 - a profiler must never take the run down
            self.results["memray_error"] = f"memray windows not started: {type(error).__name__}: {error}"
            self.console.print(self.results["memray_error"], style="yellow")

    def _start_cpu_profile(self) -> None:
        try:
            from harness.execute.cpu_profile import CpuProfiler
            self.cpu_profiler = CpuProfiler([pid for _, pid in self.platform.pids()],
                                            self.run_dir.profiles_dir.resolve())
            self.cpu_profiler.start()
        except Exception as error:  # noqa: BLE001 - a profiler must never take the run down
            self.cpu_profiler = None
            self.results["cpu_profile"] = {"error": f"CPU profiler did not start: {error}"}
            self.console.print(f"CPU profile of stage {self.request.cpu_profile_stage} skipped: {error}",
                               style="yellow")

    def _stop_cpu_profile(self) -> None:
        if self.cpu_profiler is None:
            return
        try:
            self.results["cpu_profile"] = self.cpu_profiler.stop()
        except Exception as error:  # noqa: BLE001
            self.results["cpu_profile"] = {"error": f"CPU profiler failed: {error}"}
        self.cpu_profiler = None

    def finish(self, collect_ledgers: bool) -> dict:
        """After the load: stop the profiler and the fault schedule, save the ledgers for
        reconciliation (bounded wait), stop the platform. Returns facts for the manifest."""
        self._stop_cpu_profile()
        if self.memray_windows is not None:
            errors = self.memray_windows.stop()
            if errors:
                self.results["memray_errors"] = errors
        if self.faults is not None:
            try:
                self.faults.stop(revert=True)
            except Exception as error:  # noqa: BLE001
                self.results["fault_schedule_error"] = f"{type(error).__name__}: {error}"
        if self.request.service is not None:
            self.check_service()
            self.results["sut_returncode"] = self.request.service.stop()
        platform = self.platform
        if platform is None:
            return self.results
        if collect_ledgers and platform.endpoints is not None and not platform.died:
            try:
                from harness.measure.reconciliation import collect_platform_ledgers
                endpoints = platform.endpoints
                self.console.print("waiting for payments to settle, saving the platform's ledgers ...")
                collect_platform_ledgers(self.run_dir.path, endpoints.shop_url, endpoints.gateway_url,
                                         endpoints.admin_token, settle_timeout_s=SETTLE_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 - reconciliation will say the ledgers are missing
                self.results["ledgers_error"] = f"{type(error).__name__}: {error}"
        self.results["platform_returncode"] = platform.stop()
        return self.results


def _preload_verdict_modules() -> None:
    """Import the judge and the report (pandas, scipy, matplotlib: seconds) in the background
    while the platform starts, when the harness only waits; never during the load, whose
    measurements must not share the CPU with it."""
    def load() -> None:
        try:
            import harness.measure.judge  # noqa: F401
            import harness.report  # noqa: F401
        except Exception:  # noqa: BLE001 - _judge_and_render reports import errors itself
            pass

    threading.Thread(target=load, name="preload-verdicts", daemon=True).start()


def _conclude(request: RunRequest, run_dir: RunDirectory, end_reason: str, detail: str,
              console: Console) -> RunOutcome:
    """Judge and render whatever was measured, print the summary, choose the exit code."""
    if detail:
        console.print(f"{end_reason}: {detail}", style="bold", markup=False)
    results = None
    if any(read.has(run_dir.path, table.relative_path) for table in (schema.REQUESTS, schema.JOURNEYS)):
        results = _judge_and_render(request, run_dir, console)
    if results is not None:
        print_summary(console, results)
    console.print(f"run directory: {run_dir.path}")
    if end_reason == "interrupted":
        code = EXIT_INTERRUPTED
    elif end_reason == "error" or results is None:
        code = EXIT_INVALID
    else:
        from harness.measure.judge import exit_code_for
        code = exit_code_for(results)
    return RunOutcome(run_dir.path, end_reason, code, results, detail)


def _judge_and_render(request: RunRequest, run_dir: RunDirectory, console: Console) -> dict | None:
    try:
        from harness.measure.judge import judge_run
    except ImportError as error:
        console.print(f"cannot judge the run: {error}", style="red", markup=False)
        return None
    try:
        results = judge_run(run_dir.path, targets_path=request.targets_path, strict=request.strict, write=True)
    except Exception as error:  # noqa: BLE001 - the raw data stays; say why there is no verdict
        console.print(f"judging the run failed: {type(error).__name__}: {error}", style="red", markup=False)
        return None
    if not request.render_report:
        console.print(f"report not rendered (render it with: harness report {run_dir.path})", markup=False)
        return results
    try:
        from harness.report import render_run
        for path in render_run(run_dir.path, results):
            console.print(f"report: {path}")
    except Exception as error:  # noqa: BLE001 - a report failure must not hide the verdict
        console.print(f"rendering the report failed: {type(error).__name__}: {error}", style="yellow",
                      markup=False)
    return results


def _plain(value: object) -> object:
    """Mappings and sequences as plain dicts and lists (JSON-ready)."""
    from collections.abc import Mapping
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
