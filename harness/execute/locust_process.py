"""Locust as child processes: one local runner, or a master and N local workers on 127.0.0.1,
or a master bound to an address other hosts reach, waiting for workers started there
(``harness worker --master ADDR:PORT``), local ones too if asked.

Locust monkey-patches its process with gevent, so the harness never imports it: it launches
``python -m locust -f LOCUSTFILE --headless -H URL [--profile P] [--run-dir D]`` and talks to it
with signals. Every process has a hard deadline (the profile's duration plus a margin): past it,
the load is interrupted (SIGINT: Locust stops and its recorder flushes), then terminated.
Logs go to ``RUN/generator/``. Every process gets the join token (HARNESS_JOIN_TOKEN): a worker
without it is refused by the master (loadtests/join.py).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.execute.children import child_env, free_loopback_port, log_tail, spawn, terminate_tree
from loadtests.records import RECORDING_FAILED_EXIT

DEADLINE_MARGIN_S = 60.0  # workers connecting, the last journeys finishing, the recorder flushing
INTERRUPT_GRACE_S = 20.0  # after SIGINT, how long Locust may take to stop and flush
WORKERS_MAX_WAIT_S = 60


@dataclass(frozen=True)
class LoadPlan:
    """What to run: a locustfile against a host, with the recorder's options."""

    locustfile: str  # one path, or several joined by commas (Locust's own syntax)
    host: str
    run_dir: Path
    duration_s: float  # the profile's planned duration; the hard deadline adds a margin
    profile_path: Path | None = None
    workers: int = 0
    recorder_options: bool = True  # pass --profile / --run-dir (our locustfiles define them)
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    master_bind: tuple[str, int] | None = None  # (address, port): workers on other hosts join there
    remote_workers: int = 0  # workers expected from other hosts (harness worker --master ...)
    workers_wait_s: float = WORKERS_MAX_WAIT_S  # how long the master waits for every worker to join

    @property
    def distributed(self) -> bool:
        return bool(self.workers or self.remote_workers)

    @property
    def expected_workers(self) -> int:
        return self.workers + self.remote_workers

    @property
    def deadline_s(self) -> float:
        """Seconds after start past which the load is stopped whatever it is doing (the wait for
        workers counted twice: Locust's for connections, then the harness's for joins)."""
        margin = 30.0 + 2 * self.workers_wait_s if self.distributed else 0.0
        return self.duration_s + DEADLINE_MARGIN_S + margin


def locust_argv(plan: LoadPlan, role: str, master_port: int | None = None) -> list[str]:
    """The argv of one Locust process; ``role`` is ``local``, ``master`` or ``worker``."""
    argv = [sys.executable, "-m", "locust", "-f", plan.locustfile]
    if role == "worker":
        argv += ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    else:
        argv += ["--headless", "-H", plan.host, "--exit-code-on-error", "0", "--only-summary"]
        if role == "master":
            bind_host = plan.master_bind[0] if plan.master_bind else "127.0.0.1"
            argv += ["--master", "--master-bind-host", bind_host, "--master-bind-port", str(master_port),
                     "--expect-workers", str(plan.expected_workers),
                     "--expect-workers-max-wait", f"{plan.workers_wait_s:g}"]
        argv += list(plan.extra_args)
    if plan.recorder_options:
        if plan.profile_path is not None:
            argv += ["--profile", str(plan.profile_path)]
        argv += ["--run-dir", str(plan.run_dir)]
    return argv


class LocustRun:
    """A started Locust run (local runner, or master + workers)."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.log_dir = Path(plan.run_dir) / "generator"
        self.main: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.started_s = 0.0
        self.interrupted = False
        self.hit_deadline = False
        self.master_port: int | None = None

    @property
    def main_log(self) -> Path:
        return self.log_dir / ("master.log" if self.plan.distributed else "locust.log")

    def start(self) -> None:
        """Launch Locust (and its workers); returns at once."""
        env = dict(self.plan.env)
        if self.plan.distributed:
            port = self.plan.master_bind[1] if self.plan.master_bind else free_loopback_port()
            self.master_port = port
            self.main = spawn(locust_argv(self.plan, "master", port), self.main_log, child_env(env))
            for index in range(1, self.plan.workers + 1):
                self.workers.append(spawn(locust_argv(self.plan, "worker", port),
                                          self.log_dir / f"worker-{index}.log", child_env(env)))
        else:
            self.main = spawn(locust_argv(self.plan, "local"), self.main_log, child_env(env))
        self.started_s = time.monotonic()

    def pids(self) -> list[int]:
        """Pids of every Locust process still running (the load generators)."""
        procs = ([self.main] if self.main else []) + self.workers
        return [p.pid for p in procs if p.poll() is None]

    def poll(self) -> int | None:
        """The local runner's or master's exit code, None while it runs. Enforces the deadline."""
        assert self.main is not None
        returncode = self.main.poll()
        if returncode is None and time.monotonic() - self.started_s > self.plan.deadline_s:
            self.hit_deadline = True
            self.stop()
            returncode = self.main.returncode
        return returncode

    def interrupt(self) -> None:
        """Ask Locust to stop gracefully (SIGINT, as Ctrl-C would): the recorder flushes."""
        self.interrupted = True
        if self.main is not None and self.main.poll() is None:
            try:
                self.main.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` seconds for the main process to end; its exit code or None."""
        assert self.main is not None
        try:
            return self.main.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = INTERRUPT_GRACE_S) -> int | None:
        """Stop everything: SIGINT then SIGTERM/SIGKILL after ``grace_s``; workers follow their master."""
        returncode = None
        if self.main is not None:
            returncode = terminate_tree(self.main, grace_s, signal.SIGINT)
        for worker in self.workers:
            # The master's quit message normally ends them already.
            terminate_tree(worker, 10.0, signal.SIGTERM)
        return returncode

    def failure_detail(self) -> str:
        """The tail of the main Locust log, to explain an unexpected exit; when the recorder could
        not write the run directory, first that, with the room left there (the log itself may
        have been lost to the same full disk)."""
        tail = log_tail(self.main_log, 1500)
        if self.main is None or self.main.returncode != RECORDING_FAILED_EXIT:
            return tail
        try:
            free = f"{shutil.disk_usage(self.plan.run_dir).free} bytes free there"
        except OSError as error:
            free = f"its free space unknown: {error.strerror or error}"
        return (f"recording stopped: the recorder could not write the run directory {self.plan.run_dir} "
                f"({free}; is the disk full?); the load was stopped and the rows flushed before are kept\n{tail}")
