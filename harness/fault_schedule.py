"""Faults on a schedule during a run, and each fault's measured effect afterwards.

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
when it could not be applied), so ``faults_results`` can later rebuild each fault's window
from the run directory alone.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from harness.errors import InputError

FAULT_TARGETS = ("shop", "gateway", "process")
PROCESS_ACTIONS = ("kill-worker", "kill-platform", "restart")
FAULT_KEYS = frozenset({"at_s", "target", "knobs", "action", "duration_s", "label"})
ADMIN_PATHS = {"shop": "/admin/faults", "gateway": "/sim/faults"}


@dataclass(frozen=True)
class FaultSpec:
    """One scheduled fault: knobs on a service, or an action on the platform's processes."""

    index: int
    at_s: float
    target: str
    knobs: Mapping[str, Any] = field(default_factory=dict)
    action: str | None = None
    duration_s: float | None = None
    label: str = ""


def parse_fault_tables(tables: Any, source: str) -> tuple[FaultSpec, ...]:
    """Validate a profile's ``[[faults]]`` (a list of dicts, or profile.Fault-like objects).

    ``source`` names the file in errors. Raises InputError naming the file, the fault's number
    and the field, e.g. ``p.toml: [[faults]] #2 action: must be one of kill-worker, ...``.
    """
    if tables is None:
        return ()
    if not isinstance(tables, list | tuple):
        raise InputError(f"{source}: faults: must be an array of tables ([[faults]]), got {type(tables).__name__}")
    specs = []
    for index, raw in enumerate(tables):
        if not isinstance(raw, Mapping):
            raw = {key: getattr(raw, key) for key in FAULT_KEYS if getattr(raw, key, None) is not None}
        where = f"{source}: [[faults]] #{index + 1}"
        unknown = sorted(set(raw) - FAULT_KEYS)
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(FAULT_KEYS))})")
        at_s = raw.get("at_s")
        if isinstance(at_s, bool) or not isinstance(at_s, int | float) or at_s < 0:
            raise InputError(f"{where} at_s: must be a number of seconds >= 0, got {at_s!r}")
        target = raw.get("target")
        if target not in FAULT_TARGETS:
            raise InputError(f"{where} target: must be one of {', '.join(FAULT_TARGETS)}, got {target!r}")
        knobs = raw.get("knobs", {})
        action = raw.get("action")
        if not isinstance(knobs, Mapping):
            raise InputError(f"{where} knobs: must be a table of fault knobs, got {type(knobs).__name__}")
        if target == "process":
            if action not in PROCESS_ACTIONS:
                raise InputError(f"{where} action: must be one of {', '.join(PROCESS_ACTIONS)}, got {action!r}")
            if knobs:
                raise InputError(f"{where} knobs: a process fault takes an action, not knobs")
        else:
            if action is not None:
                raise InputError(f"{where} action: only target = \"process\" takes an action")
            if not knobs:
                raise InputError(f"{where} knobs: a {target} fault needs at least one knob")
        duration_s = raw.get("duration_s")
        if duration_s is not None:
            if isinstance(duration_s, bool) or not isinstance(duration_s, int | float) or duration_s <= 0:
                raise InputError(f"{where} duration_s: must be a number of seconds > 0, got {duration_s!r}")
            if target == "process":
                raise InputError(f"{where} duration_s: a process action is instantaneous")
        label = raw.get("label", "")
        if not isinstance(label, str):
            raise InputError(f"{where} label: must be a string, got {label!r}")
        specs.append(
            FaultSpec(index, float(at_s), target, dict(knobs), action,
                      float(duration_s) if duration_s is not None else None, label or _default_label(target, knobs, action))
        )
    return tuple(specs)


def _default_label(target: str, knobs: Mapping, action: str | None) -> str:
    if action:
        return action
    return f"{target}: " + ", ".join(f"{k}={v}" for k, v in flatten_knobs(knobs).items())


def flatten_knobs(knobs: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested knob tables as dotted names: ``{"notify": {"loss_rate": 0.1}}`` → ``{"notify.loss_rate": 0.1}``.

    Latency distributions (tables with a ``kind``) stay whole: they are one value.
    """
    flat: dict[str, Any] = {}
    for key, value in knobs.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and "kind" not in value:
            flat.update(flatten_knobs(value, f"{name}."))
        else:
            flat[name] = value
    return flat


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


# --- effects, from the run directory alone ------------------------------------------------------
def _fault_windows(events: list[dict]) -> list[dict]:
    """Group ``fault`` events by ``fault_index`` into windows: start (first "on"), end (first "off")."""
    windows: dict[int, dict] = {}
    for event in events:
        if event.get("kind") != "fault" or "fault_index" not in event:
            continue
        window = windows.setdefault(int(event["fault_index"]), {
            "index": int(event["fault_index"]), "label": event.get("label", ""), "target": event.get("target"),
            "start_t_s": None, "end_t_s": None, "knobs": {}, "action": None, "errors": []})
        t_s = float(event["t_s"])
        if event.get("ok") is False:
            window["errors"].append(str(event.get("error", "")))
        if event.get("phase", "on") == "on":
            window["start_t_s"] = t_s if window["start_t_s"] is None else min(window["start_t_s"], t_s)
            if event.get("knob") == "action":
                window["action"] = event.get("value")
            elif event.get("knob") != "error":
                window["knobs"][event["knob"]] = event.get("value")
        elif window["end_t_s"] is None:
            window["end_t_s"] = t_s
    return [w for _, w in sorted(windows.items()) if w["start_t_s"] is not None]


def _in_scope(names, target: str):
    is_gateway = names.str.contains("/gateway/", regex=False)
    if target == "gateway":
        return is_gateway
    if target == "shop":
        return ~is_gateway
    return names == names  # process faults: every request


def faults_results(run_dir: Path, availability_target: float = 0.99, hold_s: int = 5) -> list[dict]:
    """Each scheduled fault's effect, from ``events.jsonl`` and ``requests.csv`` of ``run_dir``.

    Scope: gateway faults are judged on requests to ``/gateway/``, shop faults on the others,
    process faults on all. ``availability_target`` (fraction) and ``hold_s`` (seconds) define
    recovery (harness.core.recovery). A fault never switched off is judged up to the data's
    end; "before" starts where the previous fault started, "after" ends where the next one
    starts. [] when the run had no faults.
    """
    from harness.core.recovery import SecondCounts, fault_effect
    from harness.rundir import read  # deferred: pandas is heavy, and only needed here

    run_dir = Path(run_dir)
    windows = _fault_windows(read.read_events(run_dir))
    if not windows:
        return []
    requests_df = read.read_requests(run_dir, columns=["t_s", "name", "ok", "error_kind"])
    requests_df["second"] = requests_df["t_s"].astype(float).floordiv(1).astype(int)
    requests_df["ok"] = requests_df["ok"].astype(int)
    requests_df["name"] = requests_df["name"].astype(object).fillna("").astype(str)
    requests_df["error_kind"] = requests_df["error_kind"].astype(object)
    results = []
    for window in windows:
        scoped = requests_df[_in_scope(requests_df["name"], window["target"] or "process")]
        per_second = []
        for second, group in scoped.groupby("second"):
            failed = group[group["ok"] == 0]
            kinds = failed["error_kind"].fillna("unknown").replace("", "unknown").value_counts()
            per_second.append(SecondCounts(int(second), int((group["ok"] == 1).sum()), len(failed),
                                           {str(k): int(v) for k, v in kinds.items()}))
        start = window["start_t_s"]
        if window["action"] is not None:
            end = start
        elif window["end_t_s"] is not None:
            end = window["end_t_s"]
        else:  # still on at the end of the run
            end = max(start, max((s.second_t_s + 1 for s in per_second), default=start))
        since = max((w["start_t_s"] for w in windows if w["start_t_s"] < start), default=None)
        until = min((w["start_t_s"] for w in windows if w["start_t_s"] > start), default=None)
        effect = fault_effect(per_second, start, end, availability_target, hold_s, since_t_s=since, until_t_s=until)
        results.append({
            "index": window["index"], "label": window["label"], "target": window["target"],
            "action": window["action"], "knobs": window["knobs"],
            "scope": {"gateway": "gateway requests", "shop": "shop requests"}.get(window["target"], "all requests"),
            "switched_off": window["end_t_s"] is not None or window["action"] is not None,
            "apply_errors": window["errors"], **effect,
        })
    return results
