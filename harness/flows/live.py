"""The run while the load is on: follow the recorder's events (progress lines, platform hooks,
workers joining or lost), judge the profile's [abort] conditions live, pass signals on to
Locust, enforce its deadline. Part of the run flow (harness.flows.run)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.console import Console

from harness.execute.locust_process import INTERRUPT_GRACE_S, LocustRun
from harness.report.summary import ProgressPrinter
from harness.rundir import EventTail, RunDirectory, read, schema

if TYPE_CHECKING:
    from harness.flows.platform_side import PlatformSide
    from harness.flows.run import RunRequest, _Signals

LOOP_INTERVAL_S = 0.25
HEALTH_INTERVAL_S = 1.0  # [abort] health_failures: one probe a second
HEALTH_TIMEOUT_S = 2.0


class HealthProbe:
    """[abort] health_failures: GET the target's health path once a second in a thread (each probe
    bounded by HEALTH_TIMEOUT_S); results are collected by the run's loop. Stops with the run."""

    def __init__(self, url: str, verify: bool | str) -> None:
        self.url, self.verify = url, verify
        self.results: list[tuple[float, bool, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="abort-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        import requests
        while not self._stop.wait(HEALTH_INTERVAL_S):
            try:
                response = requests.get(self.url, timeout=HEALTH_TIMEOUT_S, verify=self.verify)
                ok, why = response.status_code == 200, f"GET {self.url} answered {response.status_code}"
            except requests.RequestException as error:
                ok, why = False, f"GET {self.url}: {type(error).__name__}"
            with self._lock:
                self.results.append((time.time(), ok, why))

    def take(self) -> list[tuple[float, bool, str]]:
        with self._lock:
            taken, self.results = self.results, []
        return taken

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEALTH_TIMEOUT_S + 1.0)


def drive(request: RunRequest, run_dir: RunDirectory, load: LocustRun, side: PlatformSide,
           signals: _Signals, console: Console, target: str) -> tuple[str, str, dict]:
    """Follow the run until Locust ends: progress lines, platform hooks, [abort] conditions,
    interrupts, deadline."""
    from harness.core.abort import AbortJudge
    tail = EventTail(run_dir.path / schema.EVENTS)
    progress = ProgressPrinter(console, {s["name"]: s["duration_s"] for s in request.profile.stages_manifest()})
    rules = request.profile.abort
    judge = AbortJudge(rules) if rules else None
    health = None
    if rules.health_failures is not None:
        health = HealthProbe(target + request.health_path, getattr(request.safety, "verify", True))
        health.start()
    abort = None
    interrupt_sent_s: float | None = None
    returncode = None
    try:
        while returncode is None:
            for event in tail.read_new():
                progress.on_event(event)
                side.on_event(event)
                _say_worker_event(console, progress, event)
                if judge is not None and event.get("kind") == "progress" and abort is None:
                    abort = judge.observe_progress(event)
            for t_s, ok, why in health.take() if health is not None else ():
                if abort is None:
                    abort = judge.observe_health(t_s, ok, why)
            side.check_service()
            if abort is not None and interrupt_sent_s is None:
                interrupt_sent_s = time.monotonic()
                run_dir.events.append("abort", **abort.as_event())
                progress.close()
                console.print(f"abort: {abort.describe()}; stopping the load, keeping what was measured ...",
                              style="bold red")
                load.interrupt()
            interrupt_sent_s, returncode = follow_interrupts(load, signals, run_dir, progress, console,
                                                              interrupt_sent_s)
    finally:
        if health is not None:
            health.stop()
    for event in tail.read_new():
        progress.on_event(event)
        side.on_event(event)
    progress.close()
    extra = {"generator_returncode": returncode, "generator_hit_deadline": load.hit_deadline}
    if abort is not None and not signals.received:
        extra["abort"] = abort.as_event()
        return "aborted", abort.describe(), extra
    if signals.received:
        return "interrupted", f"{signals.received[0]} during the load", extra
    if load.hit_deadline:
        return "error", f"the load generator ran past its deadline ({load.plan.deadline_s:g} s) and was stopped", extra
    if returncode != 0:
        if load.plan.distributed:
            from harness.flows.distributed import workers_failure_detail
            missing = workers_failure_detail(read.read_events(run_dir.path), load.plan.expected_workers,
                                             load.plan.workers_wait_s)
            if missing is not None:
                return "error", f"no load was sent: {missing}", extra
        return "error", f"the load generator exited with code {returncode}:\n{load.failure_detail()}", extra
    return "completed", "", extra


def _say_worker_event(console: Console, progress, event: dict) -> None:
    """Workers joining, refused, lost or missing: one console line each, as they happen."""
    from harness.flows.distributed import say_worker_event
    said = say_worker_event(event)
    if said is not None:
        progress.close()
        console.print(said[0], style=said[1] or None)


def follow_interrupts(load: LocustRun, signals: _Signals, run_dir: RunDirectory, progress, console: Console,
                       interrupt_sent_s: float | None) -> tuple[float | None, int | None]:
    """One turn of the loop's interrupt handling (``interrupt_sent_s``: when the load was asked to
    stop, by a signal or an abort): that time, and Locust's exit code once it ended (else None,
    after a pause)."""
    if signals.received and interrupt_sent_s is None:
        interrupt_sent_s = time.monotonic()
        run_dir.events.append("interrupt", signal=signals.received[0])
        progress.close()
        console.print(f"{signals.received[0]}: stopping the load, keeping what was measured ...")
        load.interrupt()
    elif interrupt_sent_s is not None and (
            len(signals.received) > 1 or time.monotonic() - interrupt_sent_s > INTERRUPT_GRACE_S):
        load.stop(grace_s=2.0)  # a second Ctrl-C, or Locust did not stop: stop it hard
    returncode = load.poll()
    if returncode is None:
        time.sleep(LOOP_INTERVAL_S)
    return interrupt_sent_s, returncode
