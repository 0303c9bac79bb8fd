"""Faults on a schedule during a run (their effect afterwards: harness.measure.faults).

A profile's ``[[faults]]`` tables (times are seconds after the run's t0)::

    [[faults]]                      # gateway knobs for 60 s, then back to what they were
    at_s = 60.0
    target = "gateway"              # shop | gateway | process
    duration_s = 60.0               # optional: revert the knobs after this long
    label = "17% timeouts"          # optional: the name in results.json and the report
    knobs = { timeout_rate_before_commit = 0.085, timeout_rate_after_commit = 0.085,
              notify = { loss_rate = 0.1, duplicate_rate = 0.1 } }

    [[faults]]
    at_s = 90.0
    target = "process"
    action = "kill-worker"          # kill-worker | kill-platform | restart

Knobs are the platform's fault knobs (docs/platform.md): shop knobs go to ``POST
/admin/faults``, gateway knobs to ``POST /sim/faults``. ``kill-worker`` sends SIGKILL to one
worker of the shop (gunicorn forks a new one); ``kill-platform`` sends SIGKILL to the shop and
its workers; ``restart`` asks the orchestration to start the platform again.

Every change is recorded as a ``fault`` event in events.jsonl (``target``, ``knob`` with nested
knobs dotted, ``value``, plus ``fault_index``, ``phase`` on|off, ``label``, and ``ok``/``error``
when it could not be applied), so ``harness.measure.faults.faults_results`` can later rebuild
each fault's window from the run directory alone. Parsing the tables: harness.config.faults.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from harness.config.faults import (  # noqa: F401  (re-exported: the schedule's vocabulary)
    ADMIN_PATHS,
    FAULT_KEYS,
    FAULT_TARGETS,
    PROCESS_ACTIONS,
    FaultSpec,
    flatten_knobs,
    parse_fault_tables,
)


@dataclass
class PlatformHandle:
    """What the schedule needs to act on the platform; ``restart`` is the orchestration's callback."""

    shop_url: str
    gateway_url: str
    admin_token: str
    shop_pid: int | None = None
    restart: Callable[[], Any] | None = None

    @classmethod
    def from_port_file(cls, port_file: Path, restart: Callable[[], Any] | None = None) -> PlatformHandle:
        """Read the platform's port file (docs/platform.md); the shop pid is the ``shop`` role's."""
        data = json.loads(Path(port_file).read_text(encoding="utf-8"))
        shop_pid = next((int(p["pid"]) for p in data.get("processes", []) if p.get("role") == "shop"), None)
        return cls(str(data["shop_url"]).rstrip("/"), str(data.get("gateway_url", "")).rstrip("/"),
                   str(data.get("admin_token", "")), shop_pid, restart)


_KEEPER: ThreadPoolExecutor | None = None
_KEEPER_LOCK = threading.Lock()


def _keeper() -> ThreadPoolExecutor:
    """One thread that lives as long as the harness, to restart the platform on.

    The harness's children get SIGTERM when their parent dies (PR_SET_PDEATHSIG), and Linux
    sends it when the *thread* that forked the child ends, not the process: a platform
    restarted on the schedule's own thread would be stopped as soon as the schedule ends.
    """
    global _KEEPER
    with _KEEPER_LOCK:
        if _KEEPER is None:
            _KEEPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-keeper")
        return _KEEPER


class FaultSchedule:
    """Applies each fault at ``t0_s + at_s`` (Unix seconds) in a background thread.

    ``record(kind, **fields)`` appends an event (``harness.rundir.EventLog.append`` fits).
    Start with ``start()``; ``stop()`` cancels what has not happened yet and reverts knobs
    still switched on, so the platform is left as it was found.
    """

    def __init__(self, faults: Iterable[FaultSpec], t0_s: float, platform: PlatformHandle,
                 record: Callable[..., Any], http_timeout_s: float = 5.0) -> None:
        self.faults = tuple(faults)
        self.t0_s = t0_s
        self.platform = platform
        self.record = record
        self.http_timeout_s = http_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending_reverts: dict[int, tuple[FaultSpec, dict]] = {}
        steps: list[tuple[float, int, str, FaultSpec]] = []
        for fault in self.faults:
            steps.append((fault.at_s, 0, "on", fault))
            if fault.duration_s is not None:
                steps.append((fault.at_s + fault.duration_s, 1, "off", fault))
        self._steps = sorted(steps, key=lambda s: (s[0], s[1], s[3].index))

    def start(self) -> None:
        """Run the schedule in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="fault-schedule", daemon=True)
        self._thread.start()

    def stop(self, revert: bool = True) -> None:
        """Cancel the remaining faults; with ``revert``, switch knobs still on back off."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.http_timeout_s * 4)
        if revert:
            with self._lock:
                pending = list(self._pending_reverts.values())
                self._pending_reverts.clear()
            for fault, previous in pending:
                self._apply_knobs(fault, previous, "off")

    def _run(self) -> None:
        for offset_s, _, phase, fault in self._steps:
            wait_s = self.t0_s + offset_s - time.time()
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            if self._stop.is_set():
                return
            try:
                self._step(phase, fault)
            except Exception as error:  # a fault that cannot be applied must not end the run
                self.record("fault", target=fault.target, knob="error", value=None, fault_index=fault.index,
                            phase=phase, label=fault.label, ok=False, error=f"{type(error).__name__}: {error}")

    def _step(self, phase: str, fault: FaultSpec) -> None:
        if fault.target == "process":
            self._act(fault)
        elif phase == "on":
            previous = self._current_knobs(fault) if fault.duration_s is not None else None
            self._apply_knobs(fault, fault.knobs, "on")
            if previous is not None:
                with self._lock:
                    self._pending_reverts[fault.index] = (fault, previous)
        else:
            with self._lock:
                pending = self._pending_reverts.pop(fault.index, None)
            if pending is not None:
                self._apply_knobs(fault, pending[1], "off")

    # --- knobs ------------------------------------------------------------------------------
    def _url(self, target: str) -> str:
        base = self.platform.shop_url if target == "shop" else self.platform.gateway_url
        return base + ADMIN_PATHS[target]

    def _headers(self) -> dict[str, str]:
        return {"X-Admin-Token": self.platform.admin_token}

    def _current_knobs(self, fault: FaultSpec) -> dict:
        """The values the fault is about to overwrite (top-level keys), to restore them later."""
        response = requests.get(self._url(fault.target), headers=self._headers(), timeout=self.http_timeout_s)
        response.raise_for_status()
        current = response.json()
        return {key: current[key] for key in fault.knobs if key in current}

    def _apply_knobs(self, fault: FaultSpec, knobs: Mapping, phase: str) -> None:
        t_s = time.time()
        error = None
        try:
            response = requests.post(self._url(fault.target), json=dict(knobs), headers=self._headers(),
                                     timeout=self.http_timeout_s)
            if response.status_code != 200:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        for knob, value in flatten_knobs(knobs).items():
            fields = {"target": fault.target, "knob": knob, "value": value, "fault_index": fault.index,
                      "phase": phase, "label": fault.label}
            if error:
                fields.update(ok=False, error=error)
            self.record("fault", t_s=t_s, **fields)

    # --- processes --------------------------------------------------------------------------
    def _act(self, fault: FaultSpec) -> None:
        import psutil  # deferred: only process faults need it

        t_s = time.time()
        fields: dict[str, Any] = {"target": "process", "knob": "action", "value": fault.action,
                                  "fault_index": fault.index, "phase": "on", "label": fault.label}
        pid = self.platform.shop_pid
        try:
            if fault.action == "restart":
                if self.platform.restart is None:
                    raise RuntimeError("no restart callback: the harness cannot restart this platform")
                result = _keeper().submit(self.platform.restart).result()
                if isinstance(result, PlatformHandle):  # the restarted platform's pids (and URLs)
                    self.platform.shop_url, self.platform.gateway_url = result.shop_url, result.gateway_url
                    self.platform.admin_token, self.platform.shop_pid = result.admin_token, result.shop_pid
                    fields["pid"] = result.shop_pid
            elif pid is None:
                raise RuntimeError("the port file names no shop process")
            elif fault.action == "kill-worker":
                workers = psutil.Process(pid).children()
                if not workers:
                    raise RuntimeError(f"shop pid {pid} has no worker processes (run the platform with --workers 2+)")
                victim = min(workers, key=lambda p: p.pid)
                os.kill(victim.pid, signal.SIGKILL)
                fields["pid"] = victim.pid
            else:  # kill-platform: the shop and every worker, at once, like a power cut
                shop = psutil.Process(pid)
                victims = [shop, *shop.children(recursive=True)]
                for process in victims:
                    try:
                        os.kill(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                fields["pid"] = pid
                fields["pids"] = [p.pid for p in victims]
        except Exception as error:
            fields.update(ok=False, error=f"{type(error).__name__}: {error}")
        self.record("fault", t_s=t_s, **fields)
