"""The embedded platform's side of a run (harness.flows.run): starting it (or the service under
test), sampling its processes, the fault schedule from the recorder's t0, the CPU profile of one
stage, and the ledgers for reconciliation once the load has stopped. Every hook is optional and
never stops the run."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.console import Console

from harness.execute.platform_process import EmbeddedPlatform
from harness.execute.sampler import ProcessSampler
from harness.rundir import RunDirectory

if TYPE_CHECKING:
    from harness.flows.run import RunRequest

SETTLE_TIMEOUT_S = 30.0  # waiting for in-flight payments to settle before reconciling


class PlatformSide:
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
