"""The harness recorder inside Locust: profile options, run plan, recording, timeline, shape.

Usable two ways:
- imported by our locustfile (loadtests/shop.py), which adds the open-model visitors;
- loaded as a locustfile beside anyone's locustfile (``locust -f loadtests/recorder.py,theirs.py``,
  as ``harness run`` does): then :class:`ProfileUsersShape` runs their users closed-model, the
  user count following the profile's load factor (``max_concurrent_journeys`` at the peak stage),
  and every request is recorded, labelled with the stage it started in.

Options: ``--profile PATH`` (default profiles/smoke.toml; Locust's own ``--profile`` option, read
as our profile's path) and ``--run-dir DIR`` (default: a new temporary directory, its path logged). Roles, by Locust runner:
- local runner: records straight into the run directory;
- worker: buffers records and HDR histogram deltas, sent with every ``report_to_master``
  (every 1 s: Locust's 3 s default is lowered here);
- master: absorbs the workers' reports (``worker_report``) and sends the workers the plan
  (t0, worker count, the profile's content) in a custom message when the test starts.
Only the local runner or the master writes files: events.jsonl (``run_start`` with ``t0_s``,
``stage_start``/``stage_end``, ``progress`` every ~1 s: its intended rate is the average over the
stage so far, ramp included, like the achieved one), rows flushed every second, and
``histograms/<stage>.json`` at each stage end and again when Locust quits.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import locust.runners
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from harness.config import paths
from harness.config.profile import Profile, load_profile, parse_profile
from harness.core.join import content_digest
from harness.errors import InputError
from loadtests import ceiling, join
from loadtests.arrivals import cumulative_journeys
from loadtests.locust_client import RequestFailure, exception_kind
from loadtests.records import RECORDING_FAILED_EXIT, Recorder, RunWriter
from scenarios.client import HTTP_4XX, HTTP_5XX

log = logging.getLogger("loadtests.recorder")
PLAN_MESSAGE = "harness_load_plan"
DEFAULT_PROFILE = paths.SMOKE_PROFILE  # shipped with the harness: found from any directory
FLUSH_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 1.0
START_LEAD_S = 1.0  # users spawn before t0, so the first arrivals find them idle
locust.runners.WORKER_REPORT_INTERVAL = 1.0
WORKERS_WAIT_S = 60.0  # the master's wait for its workers to join, unless --expect-workers-max-wait says
WORKERS_MISSING_EXIT = 3  # the master's exit code when fewer workers joined than expected

PlanListener = Callable[[Profile, float, int, int, dict[str, Any]], None]


class LoadRun:
    """This process's view of the run: profile, t0, recorder/writer, and plan listeners."""

    def __init__(self) -> None:
        self.profile: Profile | None = None
        self.t0_s: float | None = None
        self.recorder: Recorder | None = None  # local runner and workers
        self.writer: RunWriter | None = None  # local runner and master
        self.plan_extra: dict[str, Any] = {}  # sent to workers with the plan (e.g. the mix)
        self.plan_listeners: list[PlanListener] = []
        self.stop_listeners: list[Callable[[], None]] = []
        self.worker_report_t_s: dict[str, float] = {}
        self.master_side: join.MasterSide | None = None  # the join handshake (master)
        self.worker_side: join.WorkerSide | None = None  # (worker)
        self.interrupted = False  # SIGINT/SIGTERM seen: the shape stops at its next tick
        self.environment = None  # Locust's, to set the process exit code when recording fails
        self._started: set[str] = set()  # stages whose stage_start / stage_end are written
        self._ended: set[str] = set()
        self._timeline: gevent.Greenlet | None = None

    @property
    def end_t_s(self) -> float | None:
        """Epoch seconds at which the profile's last stage ends (None before the start)."""
        return None if self.t0_s is None or self.profile is None else self.t0_s + self.profile.total_duration_s

    # -- hot path -------------------------------------------------------------------------------
    def on_request(self, request_type, name, response_time, response_length, exception=None, context=None,
                   start_time=None, response=None, **_kwargs) -> None:  # fmt: skip
        """events.request listener: one requests.csv row per request."""
        tags = context.get("tags") if context else None
        start_t_s = start_time if start_time is not None else time.time() - response_time / 1000.0
        if tags is None:  # a request made outside our journeys: label it by when it started
            stage, in_ramp = self.stage_at(start_t_s)
            journey_id = ""
        else:
            stage, in_ramp, journey_id = tags.stage, tags.in_ramp, tags.journey_id
        status = getattr(response, "status_code", 0) or 0
        if exception is None:
            kind = ""
        elif isinstance(exception, RequestFailure):
            kind = exception.kind
        elif status >= 500:
            kind = HTTP_5XX
        elif status:
            kind = HTTP_4XX
        else:
            kind = exception_kind(exception)
        self.recorder.request(start_t_s, stage, in_ramp, name, request_type, response_time, exception is None,
                              status, kind, response_length or 0, journey_id)  # fmt: skip

    def stage_at(self, t_s: float) -> tuple[str, bool]:
        """(stage, in_ramp) of the profile at epoch ``t_s``.

        Before t0 it is the first stage, after the end the last, both as ramp (left out of the
        statistics); ("", False) before any plan exists.
        """
        if self.profile is None or self.t0_s is None:
            return "", False
        located = self.profile.stage_at(t_s - self.t0_s)
        if located is None:
            stages = self.profile.stages
            return (stages[0] if t_s < self.t0_s else stages[-1]).name, True
        return located[0].stage.name, located[1]

    # -- worker / master exchange ------------------------------------------------------------------
    def on_report_to_master(self, client_id, data: dict[str, Any], **_kwargs) -> None:
        """Worker: attach everything recorded since the last report."""
        data["harness"] = self.recorder.take_report()

    def on_worker_report(self, client_id, data: dict[str, Any], **_kwargs) -> None:
        """Master: write a worker's records and merge its histograms, if that worker joined
        (loadtests.join: a process that merely reached the port is never merged)."""
        report = data.get("harness")
        side = self.master_side
        if report is None or self.writer is None or self.writer.closed:
            return
        if side is not None and not side.accepts_report(client_id):
            return
        self.writer.absorb(report)
        self.worker_report_t_s[client_id] = time.time()
        if side is not None:
            side.on_report(client_id)

    def _active_workers(self) -> list[join.Joined]:
        return self.master_side.active() if self.master_side is not None else []

    def in_flight(self) -> int:
        """Visits running now: this process's, or (master) the sum the active workers last reported."""
        if self.recorder is None:
            if self.writer is None:
                return 0
            return sum(self.writer.workers_in_flight.get(str(w.index), 0) for w in self._active_workers())
        return self.recorder.in_flight

    def drained(self, worker_count: int) -> bool:
        """True once no visit is in flight (master: every active worker reported so after the
        profile's end; a lost worker is not waited for)."""
        if self.recorder is None:
            active = self._active_workers()
            reports = self.worker_report_t_s
            fresh = bool(active) and all(reports.get(w.client_id, 0.0) >= self.end_t_s + 0.5 for w in active)
            return fresh and self.in_flight() == 0
        return self.in_flight() == 0

    # -- master / local: the timeline ------------------------------------------------------------
    def start_timeline(self, workers: int) -> None:
        """Write run_start and follow the profile's timeline (stage events, progress, flushes)."""
        self.stop_timeline()
        self.writer.event("run_start", time.time(), t0_s=round(self.t0_s, 6), profile=self.profile.name,
                          profile_path=self.profile.path, workers=workers,
                          stages=self.profile.stages_manifest(), source="recorder")  # fmt: skip
        self._timeline = gevent.spawn(self._follow_timeline, self.profile, self.t0_s)

    def _stage_events_due(self, now: float) -> None:
        """Write the stage_start/stage_end events whose time has come (each once)."""
        writer, t0_s = self.writer, self.t0_s
        for plan in self.profile.timeline():
            name = plan.stage.name
            if name not in self._started and now >= t0_s + plan.start_offset_s:
                self._started.add(name)
                writer.event("stage_start", t0_s + plan.start_offset_s, stage=name, load_factor=plan.stage.load_factor,
                             journeys_per_s=plan.journeys_per_s, ramp_s=plan.stage.ramp_s)  # fmt: skip
            if name not in self._ended and now >= t0_s + plan.end_offset_s:
                self._ended.add(name)
                writer.event("stage_end", t0_s + plan.end_offset_s, stage=name)
                writer.write_histograms([name])

    def _follow_timeline(self, profile: Profile, t0_s: float) -> None:
        writer = self.writer
        self._started, self._ended = set(), set()
        next_flush_t_s = next_progress_t_s = last_progress_t_s = time.time()
        while True:
            now = time.time()
            self._stage_events_due(now)
            if now >= next_progress_t_s:
                located = profile.stage_at(now - t0_s)
                if located is not None:
                    plan = located[0]
                    elapsed_s = now - t0_s - plan.start_offset_s
                    # the intended rate so far in this stage, ramp included, so it compares with achieved
                    intended = (cumulative_journeys(profile, now - t0_s)
                                - cumulative_journeys(profile, plan.start_offset_s)) / max(elapsed_s, 1e-9)
                    writer.progress(now, plan.stage.name, elapsed_s, intended, now - last_progress_t_s)
                    last_progress_t_s = now
                next_progress_t_s = now + PROGRESS_INTERVAL_S
            if now >= next_flush_t_s:
                writer.flush()
                next_flush_t_s = now + FLUSH_INTERVAL_S
            if self.master_side is not None:
                self.master_side.check_lost(now)
            self.check_recording()
            gevent.sleep(0.25)

    def check_recording(self) -> None:
        """Once the writer failed (a full disk): say which file, stop the load at the shape's next
        tick, and make Locust exit with RECORDING_FAILED_EXIT; what was flushed stays."""
        failure = self.writer.failure if self.writer is not None else None
        if failure is None:
            return
        if self.environment is not None and self.environment.process_exit_code != RECORDING_FAILED_EXIT:
            log.error("recording stopped: %s; stopping the load (rows flushed before are kept)", failure)
            self.environment.process_exit_code = RECORDING_FAILED_EXIT
        self.interrupted = True

    def _worker_totals(self) -> None:
        """Master: per worker, the requests it says it sent and those merged here, per stage
        (a ``worker_totals`` event each): a report lost on the way shows as a difference."""
        writer, side = self.writer, self.master_side
        if side is None:
            return
        for worker in sorted((w for w in side.joined.values() if w.planned), key=lambda w: w.index):
            key = str(worker.index)
            writer.event("worker_totals", time.time(), worker=key, name=worker.name, host=worker.host,
                         sent_requests=writer.worker_sent.get(key, {}), merged_requests=writer.worker_merged.get(key, {}),
                         lost_t_s=worker.lost_t_s)

    def _ceiling_totals(self) -> None:
        """A ``ceiling`` event when the profile has max_requests_per_s: how many requests waited
        for it and how long, summed over the load-generating processes."""
        rate = getattr(self.profile, "max_requests_per_s", None)
        if rate is None:
            return
        if self.master_side is None:
            counts = {"local": {"throttled": ceiling.CEILING.throttled, "waited_s": ceiling.CEILING.waited_s}}
        else:
            counts = self.writer.worker_ceiling
        self.writer.event("ceiling", time.time(), max_requests_per_s=rate,
                          throttled_requests=sum(int(c.get("throttled", 0)) for c in counts.values()),
                          waited_s=round(sum(float(c.get("waited_s", 0.0)) for c in counts.values()), 3),
                          by_worker=counts)

    def stop_timeline(self) -> None:
        """Stop following the timeline (a new test start, or the end)."""
        if self._timeline is not None:
            self._timeline.kill(block=False)
            self._timeline = None

    def finish(self) -> None:
        """Write every stage's final histograms, flush and close the files (master/local). Idempotent."""
        self.stop_timeline()
        if self.writer is None or self.writer.closed:
            return
        if self.profile is not None and self.t0_s is not None:
            self._stage_events_due(time.time())  # the shape may stop before the timeline's last tick
        stages = [s.name for s in self.profile.stages] if self.profile else []
        stages += [s for s in self.writer.histograms.stages() if s and s not in stages]
        self.writer.write_histograms(stages)
        self._worker_totals()
        self._ceiling_totals()
        self.writer.close()
        self.check_recording()
        log.info("run directory written: %s", self.writer.run_dir)


RUN = LoadRun()
RUN.plan_listeners.append(ceiling.configure)  # the profile's max_requests_per_s, this process's share


def resolve_path(path: str) -> Path:
    """A path as harness.config.paths resolves it: from the directory the harness (or Locust) was
    started in, else among the files shipped with the harness."""
    return paths.resolve_input(path)


def spawn_rate(profile: Profile) -> float:
    """Users started per second: all of them within about a second (Locust warns above 100/s)."""
    return float(min(profile.max_concurrent_journeys, 100))


def _options(parser) -> None:
    # Locust itself defines --profile ("a profile to group test runs"): we read that option as
    # our profile path rather than clash with it (None: profiles/smoke.toml).
    parser.add_argument("--run-dir", default="", help="run directory to write (default: a new temp dir)")


def _stop_gracefully() -> None:
    # In a headless shape run Locust's main greenlet waits on the shape and installs its SIGTERM
    # handler only afterwards, and Python raises KeyboardInterrupt in whichever greenlet runs when
    # SIGINT lands (often an image fetch), which can kill the process before our files are
    # flushed. These hub-level handlers instead end the shape at its next tick (<= 1 s): Locust
    # then stops the users, fires quitting, and the run directory is closed properly.
    if not RUN.interrupted:
        log.info("interrupted: stopping the load, writing the run directory")
    RUN.interrupted = True


def _init(environment, **_kwargs) -> None:
    runner, options = environment.runner, environment.parsed_options
    RUN.environment = environment
    if isinstance(runner, WorkerRunner):
        gevent.signal_handler(signal.SIGINT, lambda: None)  # Ctrl-C reaches all; the master stops us
    elif options is not None and options.headless:
        gevent.signal_handler(signal.SIGINT, _stop_gracefully)
        gevent.signal_handler(signal.SIGTERM, _stop_gracefully)
    if isinstance(runner, WorkerRunner):
        RUN.recorder = Recorder(worker=str(runner.worker_index))
        runner.register_message(PLAN_MESSAGE, _on_plan)
        events.report_to_master.add_listener(RUN.on_report_to_master)
        RUN.worker_side = join.WorkerSide(environment)
        RUN.worker_side.hello()
    else:
        try:
            RUN.profile = load_profile(resolve_path(getattr(options, "profile", None) or DEFAULT_PROFILE))
        except InputError as error:
            log.error("%s", error)
            sys.exit(2)
        run_dir = options.run_dir if options and options.run_dir else tempfile.mkdtemp(prefix="shop-load-")
        RUN.writer = RunWriter(run_dir)
        RUN.writer.track_window_p95(RUN.profile.abort.p95_ms is not None)
        log.info("profile %s (%s), run directory %s", RUN.profile.name, RUN.profile.path, run_dir)
        if isinstance(runner, MasterRunner):
            events.worker_report.add_listener(RUN.on_worker_report)
            RUN.master_side = join.MasterSide(environment, RUN.writer)
        else:
            RUN.recorder = Recorder(worker="local", writer=RUN.writer)
    if RUN.recorder is not None:
        events.request.add_listener(RUN.on_request)


def _test_start(environment, **_kwargs) -> None:
    runner = environment.runner
    # A worker starts when the master's plan arrives. (A worker joining a running test gets its
    # spawn message while Locust still constructs its runner: environment.runner is None then.)
    if runner is None or isinstance(runner, WorkerRunner) or getattr(environment.parsed_options, "worker", False):
        return
    profile = RUN.profile
    planned: list[join.Joined] = []
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        expected = max(int(getattr(options, "expect_workers", 1) or 1), 1)
        max_wait_s = float(getattr(options, "expect_workers_max_wait", 0) or WORKERS_WAIT_S)
        if not RUN.master_side.wait_for(expected, max_wait_s):
            environment.process_exit_code = WORKERS_MISSING_EXIT
            RUN.interrupted = True  # the shape stops at its next tick: no load was sent
            return
    RUN.t0_s = time.time() + START_LEAD_S + profile.max_concurrent_journeys / spawn_rate(profile)
    RUN.worker_report_t_s.clear()
    if isinstance(runner, MasterRunner):
        planned = RUN.master_side.plan_indexes(time.time())
    RUN.start_timeline(len(planned))
    if isinstance(runner, MasterRunner):
        plan = {"t0_s": RUN.t0_s, "workers": len(planned), "profile": dict(profile.content),
                "profile_path": profile.path, "extra": RUN.plan_extra}
        RUN.master_side.plan_digest = content_digest(plan["profile"], plan["extra"])
        for worker in planned:
            runner.send_message(PLAN_MESSAGE, {**plan, "index": worker.index,
                                               "clock_offset_s": worker.clock.offset_s}, client_id=worker.client_id)
    else:
        for listener in RUN.plan_listeners:
            listener(profile, RUN.t0_s, 0, 1, RUN.plan_extra)


def _on_plan(environment, msg, **_kwargs) -> None:
    """Worker: the master's plan. Its times are on the master's clock: this host's clock reads
    ``clock_offset_s`` more (measured at join, loadtests.join), so the arrivals are scheduled
    that much later here and every record is shifted back onto the master's clock."""
    data = msg.data
    RUN.profile = parse_profile(data["profile"], data["profile_path"])
    shift_s = float(data.get("clock_offset_s") or 0.0) - (RUN.worker_side.skew_s if RUN.worker_side else 0.0)
    RUN.t0_s = data["t0_s"] + shift_s
    index = int(data.get("index", environment.runner.worker_index))
    RUN.recorder.worker = str(index)
    RUN.recorder.clock_shift_s = shift_s
    for listener in RUN.plan_listeners:
        listener(RUN.profile, RUN.t0_s, index, max(int(data["workers"]), 1), data.get("extra") or {})
    if RUN.worker_side is not None:
        RUN.worker_side.acknowledge_plan(content_digest(data["profile"], data.get("extra") or {}))


def _test_stop(environment, **_kwargs) -> None:
    for listener in RUN.stop_listeners:
        listener()


def _quitting(environment, **_kwargs) -> None:
    if RUN.recorder is not None and RUN.writer is None:  # a worker: say what it sent, for its own log
        recorder = RUN.recorder
        log.info("worker %s sent requests per stage: %s", recorder.worker,
                 json.dumps(recorder.sent_requests, sort_keys=True))
    RUN.finish()


def _install() -> None:
    # Once per process, even if this file is both imported and loaded as a locustfile.
    if getattr(events, "_harness_recorder_installed", False):
        return
    events._harness_recorder_installed = True
    events.init_command_line_parser.add_listener(_options)
    events.init.add_listener(_init)
    events.test_start.add_listener(_test_start)
    events.test_stop.add_listener(_test_stop)
    events.quitting.add_listener(_quitting)


_install()


def profile_shape_tick(users: int, runner) -> tuple[int, float] | None:
    """A shape's tick: ``users`` until the profile's end, then None once drained or ``drain_s`` passed."""
    profile = RUN.profile
    if profile is None or RUN.interrupted:
        return None
    rate = spawn_rate(profile)
    end_t_s = RUN.end_t_s
    if end_t_s is None or time.time() < end_t_s:
        return users, rate
    if time.time() >= end_t_s + profile.drain_s:
        return None
    worker_count = runner.worker_count if isinstance(runner, MasterRunner) else 1
    return None if RUN.drained(worker_count) else (users, rate)


class ProfileUsersShape(LoadTestShape):
    """For other locustfiles (closed model): users follow the load factor, the peak stage at the cap."""

    def tick(self):
        profile = RUN.profile
        if profile is None:
            return None
        peak = max(stage.load_factor for stage in profile.stages) or 1.0
        offset_s = 0.0 if RUN.t0_s is None else time.time() - RUN.t0_s
        factor = profile.load_factor_at(offset_s) if offset_s < profile.total_duration_s else 0.0
        users = max(1, math.ceil(profile.max_concurrent_journeys * factor / peak))
        return profile_shape_tick(users, self.runner)
