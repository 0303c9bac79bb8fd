"""The supervisor of the harness's child services: start one, wait until it answers, notice if
it dies, stop it. :class:`ServiceProcess` is one supervised child (``harness shop`` runs its shop
and gateway as two, ``harness leak`` the service under test); :class:`EmbeddedPlatform` is the
reference platform as one, for a campaign.

It runs ``python -m harness shop --port 0 --port-file RUN/platform/port.json --data-dir
RUN/platform`` in its own session; the platform writes the port file
``{"shop_url", "gateway_url", "admin_token", "pid", "processes": [{"role", "pid"}]}`` once it
listens. The data directory is ``RUN/platform`` itself, so the platform's ``shop.log``,
``gateway.log`` and SQLite data land where docs/run-directory.md puts them; the supervisor's
console output goes to ``RUN/platform/harness-shop.log``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from harness.errors import RunFailedError
from harness.execute.children import log_tail, spawn, terminate_tree
from harness.rundir import EventLog

READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 20.0  # memray must finish writing its captures: stop gently first


class StartCancelled(Exception):
    """The platform's start was called off (the harness got SIGINT/SIGTERM while waiting)."""


class ServiceProcess:
    """One supervised child: started in its own session (it dies with the harness), its output
    appended to ``log_path``; waited on until it answers HTTP; an exit nobody asked for raises
    RunFailedError naming it (``label``, default "the ROLE process") with its log's tail."""

    def __init__(self, role: str, argv: list[str], log_path: Path, *, env: dict[str, str] | None = None,
                 cwd: Path | None = None, pass_fds: tuple[int, ...] = (), label: str | None = None) -> None:
        self.role, self.argv, self.log_path = role, list(argv), Path(log_path)
        self.env, self.cwd, self.pass_fds = env, cwd, tuple(pass_fds)
        self.label = label or f"the {role} process"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Launch the child (OSError if it cannot be executed); returns at once."""
        self.proc = spawn(self.argv, self.log_path, env=self.env, cwd=self.cwd, pass_fds=self.pass_fds)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def poll(self) -> int | None:
        """Its exit code, None while it runs (or before it started)."""
        return None if self.proc is None else self.proc.poll()

    def exited(self, when: str = "") -> RunFailedError:
        """The error for an exit nobody asked for: label, exit code, ``when``, the log's tail."""
        code = None if self.proc is None else self.proc.returncode
        return RunFailedError(f"{self.label} exited with code {code}{when}; its log ({self.log_path}):\n"
                              f"{log_tail(self.log_path)}")

    def check_alive(self, when: str = "") -> None:
        """RunFailedError (see :meth:`exited`) if the child has exited."""
        if self.poll() is not None:
            raise self.exited(when)

    def wait_until_answering(self, url: str, timeout_s: float, cancelled: Callable[[], bool] = lambda: False,
                             accept: Callable[[int], bool] = lambda status: True) -> int:
        """Return the status of the first answer from ``url`` that ``accept``s (by default any HTTP
        answer) within ``timeout_s`` seconds; RunFailedError if the child exits first or nothing
        acceptable came in time, StartCancelled as soon as ``cancelled()`` is true."""
        deadline_s = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline_s:
            if cancelled():
                raise StartCancelled
            self.check_alive(f" before answering {url}")
            status = probe(url)
            if status is not None and accept(status):
                return status
            last = f"HTTP {status}" if status is not None else last
            time.sleep(0.2)
        raise RunFailedError(f"{self.label} did not answer {url} within {timeout_s:.0f} s (last: {last}); "
                             f"its log ({self.log_path}):\n{log_tail(self.log_path)}")

    def stop(self, grace_s: float, first_signal: int = signal.SIGTERM) -> int | None:
        """``first_signal``, then SIGKILL for it and its descendants after ``grace_s``; its exit code."""
        return None if self.proc is None else terminate_tree(self.proc, grace_s, first_signal)


def stop_services(services: list[ServiceProcess], grace_s: float, first_signal: int = signal.SIGTERM) -> None:
    """Signal every running service at once, then give them ``grace_s`` seconds in all before SIGKILL."""
    for service in services:
        if service.proc is not None and service.proc.poll() is None:
            try:
                service.proc.send_signal(first_signal)
            except ProcessLookupError:
                pass
    deadline_s = time.monotonic() + grace_s
    for service in services:
        service.stop(max(0.0, deadline_s - time.monotonic()), first_signal)


def probe(url: str, timeout_s: float = 2.0) -> int | None:
    """The HTTP status ``url`` answers with, None when it does not answer (loopback: no proxy)."""
    session = requests.Session()
    session.trust_env = False
    try:
        return session.get(url, timeout=timeout_s).status_code
    except requests.RequestException:
        return None
    finally:
        session.close()


@dataclass(frozen=True)
class PlatformEndpoints:
    """Where the running platform listens, read from its port file."""

    shop_url: str
    gateway_url: str
    admin_token: str
    pid: int
    processes: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @classmethod
    def from_port_file(cls, data: dict) -> PlatformEndpoints:
        """Parse the port file's JSON (KeyError/TypeError if a field is missing)."""
        return cls(
            shop_url=str(data["shop_url"]).rstrip("/"),
            gateway_url=str(data.get("gateway_url", "")).rstrip("/"),
            admin_token=str(data.get("admin_token", "")),
            pid=int(data["pid"]),
            processes=tuple((str(p["role"]), int(p["pid"])) for p in data.get("processes", [])),
        )

    def as_manifest(self) -> dict:
        """The manifest's ``platform`` block (the admin token is left out)."""
        return {"shop_url": self.shop_url, "gateway_url": self.gateway_url, "pid": self.pid,
                "processes": [{"role": role, "pid": pid} for role, pid in self.processes]}


def _with_option(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag=value`` set, replacing an earlier value of ``flag``.

    Always the ``--flag=value`` form: a value starting with ``-`` (a random admin token can)
    would otherwise be read by argparse as another flag.
    """
    kept, skip_next = [], False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == flag:
            skip_next = True
        elif not arg.startswith(flag + "="):
            kept.append(arg)
    return kept + [f"{flag}={value}"]


def platform_command(port_file: Path, data_dir: Path, *, workers: int | None = None,
                     faults: str | None = None, memray_out: Path | None = None,
                     extra_args: tuple[str, ...] = ()) -> list[str]:
    """The argv that starts the embedded platform on free loopback ports."""
    argv = [sys.executable, "-m", "harness", "shop", "--port", "0",
            "--port-file", str(port_file), "--data-dir", str(data_dir)]
    if workers:
        argv += ["--workers", str(workers)]
    if faults:
        argv += ["--faults", str(faults)]
    if memray_out is not None:
        argv += ["--memray-out", str(memray_out)]
    return argv + list(extra_args)


class EmbeddedPlatform:
    """The reference platform (shop + gateway) run by the harness for one run."""

    def __init__(self, platform_dir: Path, *, workers: int | None = None, faults: str | None = None,
                 memray_out: Path | None = None, events: EventLog | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.platform_dir = Path(platform_dir)
        self.port_file = self.platform_dir / "port.json"
        self.data_dir = self.platform_dir
        self.log_path = self.platform_dir / "harness-shop.log"
        self.argv = platform_command(self.port_file, self.data_dir, workers=workers, faults=faults,
                                     memray_out=memray_out, extra_args=extra_args)
        self.events = events
        self.endpoints: PlatformEndpoints | None = None
        self.service: ServiceProcess | None = None
        self.proc: subprocess.Popen | None = None
        self.exit_returncode: int | None = None
        self._stopping = threading.Event()
        self._died = threading.Event()
        self._watcher: threading.Thread | None = None
        self._on_death: Callable[[int], None] | None = None
        self._cancelled: Callable[[], bool] = lambda: False

    @property
    def died(self) -> bool:
        """True once the platform exited without the harness asking it to."""
        return self._died.is_set()

    def start(self, ready_timeout_s: float = READY_TIMEOUT_S,
              cancelled: Callable[[], bool] = lambda: False) -> PlatformEndpoints:
        """Start the platform and wait (at most ``ready_timeout_s`` seconds) until its port file
        exists and ``GET /healthz`` answers 200. Raises RunFailedError with its log's tail, or
        StartCancelled as soon as ``cancelled()`` is true (the caller then calls :meth:`stop`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port_file.unlink(missing_ok=True)
        self._cancelled = cancelled
        self.service = ServiceProcess("platform", self.argv, self.log_path, label="the embedded platform")
        self.service.start()
        self.proc = self.service.proc
        deadline_s = time.monotonic() + ready_timeout_s
        try:
            self.endpoints = self._wait_for_port_file(deadline_s)
            self._wait_for_health(self.endpoints.shop_url, deadline_s)
            if self.endpoints.gateway_url:
                self._wait_for_health(self.endpoints.gateway_url, deadline_s)
        except RunFailedError:
            self.stop(grace_s=5.0)
            raise
        return self.endpoints

    def watch(self, on_death: Callable[[int], None] | None = None) -> None:
        """From now on, an exit the harness did not ask for is recorded as a ``platform_exit``
        event and reported to ``on_death(returncode)``; the run carries on."""
        self._on_death = on_death
        self._watcher = threading.Thread(target=self._watch, name="platform-watch", daemon=True)
        self._watcher.start()

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM the platform, SIGKILL what is left after ``grace_s`` seconds; its exit code."""
        self._stopping.set()
        if self.service is None:
            return None
        returncode = self.service.stop(grace_s, signal.SIGTERM)
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        return returncode

    def restart(self, ready_timeout_s: float = READY_TIMEOUT_S) -> PlatformEndpoints:
        """Stop the platform (if still running) and start it again on the same ports, data and
        admin token, so the load and the fault schedule carry on against the same URLs."""
        previous = self.endpoints
        on_death = self._on_death
        self.stop(grace_s=5.0)
        if previous is not None:
            shop_port, gateway_port = urlsplit(previous.shop_url).port, urlsplit(previous.gateway_url).port
            self.argv = _with_option(self.argv, "--port", str(shop_port))
            if gateway_port:
                self.argv = _with_option(self.argv, "--gateway-port", str(gateway_port))
            if previous.admin_token:
                self.argv = _with_option(self.argv, "--admin-token", previous.admin_token)
        self._stopping.clear()
        self._died.clear()
        endpoints = self.start(ready_timeout_s)
        self.watch(on_death)
        return endpoints

    def pids(self) -> list[tuple[str, int]]:
        """(role, pid) of the platform's declared processes, the supervisor first."""
        if self.proc is None:
            return []
        declared = list(self.endpoints.processes) if self.endpoints else []
        if all(pid != self.proc.pid for _, pid in declared):
            declared.insert(0, ("shop", self.proc.pid))
        return declared

    # --- internals ----------------------------------------------------------------------------
    def _watch(self) -> None:
        assert self.proc is not None
        returncode = self.proc.wait()
        if self._stopping.is_set():
            return
        self.exit_returncode = returncode
        self._died.set()
        if self.events is not None:
            self.events.append("platform_exit", returncode=returncode, pid=self.proc.pid,
                               log_tail=log_tail(self.log_path, 500))
        if self._on_death is not None:
            self._on_death(returncode)

    def _fail(self, why: str) -> RunFailedError:
        tail = log_tail(self.log_path)
        return RunFailedError(f"the embedded platform {why} (log {self.log_path}):\n{tail}"
                              if tail else f"the embedded platform {why} (log {self.log_path} is empty)")

    def _check_alive(self) -> None:
        if self._cancelled():
            raise StartCancelled
        if self.proc.poll() is not None:
            raise self._fail(f"exited with code {self.proc.returncode} before it was ready")

    def _wait_for_port_file(self, deadline_s: float) -> PlatformEndpoints:
        assert self.proc is not None
        while time.monotonic() < deadline_s:
            self._check_alive()
            if self.port_file.exists():
                try:
                    return PlatformEndpoints.from_port_file(json.loads(self.port_file.read_text()))
                except json.JSONDecodeError:
                    pass  # being written; read again
                except (KeyError, TypeError, ValueError) as error:
                    raise self._fail(f"wrote a port file {self.port_file} without {error}") from error
            time.sleep(0.1)
        raise self._fail(f"did not write {self.port_file} in time")

    def _wait_for_health(self, base_url: str, deadline_s: float) -> None:
        assert self.proc is not None
        last = "no answer"
        while time.monotonic() < deadline_s:
            self._check_alive()
            status = probe(f"{base_url}/healthz")
            if status == 200:
                return
            last = f"HTTP {status}" if status is not None else "no answer"
            time.sleep(0.2)
        raise self._fail(f"did not answer GET {base_url}/healthz with 200 in time (last: {last})")
