"""memray attached to the running platform in windows (harness.core.memray_windows).

At each planned window the harness runs ``python -m memray attach --aggregate
--trace-python-allocators --duration W -f -o RUN/platform/memray/window-<i>-<role>-<pid>.bin PID``
for every process that serves requests; memray tracks in the background for W seconds and
detaches itself, and between windows the platform runs without it. ``--aggregate`` keeps only
each stack's totals and what is still live at the end (a 30 s window at the soak's load is
about 0.2 MB, against ~16 MB for the full allocation history); ``--trace-python-allocators``
sees objects allocated through pymalloc, so the platform keeps its normal allocator.

Every window is recorded in events.jsonl: ``memray_window_start`` (``window``, ``planned_s``,
``captures``: ``[{"role", "pid", "capture"}]``, ``errors``) once memray is attached, and
``memray_window_end`` (``window``, ``start_t_s``, ``duration_s``, ``cut_short``, ``captures``
with ``size_bytes``, ``errors``) once the captures are written. A window that could not attach
says why and the run goes on. memray attach injects itself with gdb (or lldb) on Python < 3.14:
:func:`attach_tool` says which one is there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.core.memray_windows import WindowPlan

ATTACH_TIMEOUT_S = 60.0  # gdb pauses the process briefly; a stuck gdb must not hold the run
FLUSH_GRACE_S = 3.0  # after the window: memray writes the aggregated capture as it detaches
CAPTURE_DIR = "memray"  # under RUN/platform/


def attach_tool() -> str | None:
    """The debugger memray attach will use (``gdb`` or ``lldb``, its path), None if neither is on PATH."""
    if sys.version_info >= (3, 14):
        return "sys.remote_exec"
    return shutil.which("gdb") or shutil.which("lldb")


def check_windows(stages: list[dict], window_s: float | None, flag: str, source: str) -> list[WindowPlan]:
    """The windows a run with ``flag`` (--memray) will take, checked before anything starts:
    InputError naming ``flag`` and ``source`` (the profile) when the steady part cannot hold two
    windows, or when neither gdb nor lldb is there for memray attach."""
    from harness.core.memray_windows import plan_windows, steady_span_offsets
    from harness.errors import InputError

    try:
        plans = plan_windows(*steady_span_offsets(stages), window_s)
    except ValueError as error:
        raise InputError(f"{flag}: {source}: {error}") from error
    if attach_tool() is None:
        raise InputError(f"{flag}: memray attaches to the running platform with gdb or lldb, and neither is on "
                         "PATH: install gdb (`make` installs it when run as root: apt-get install gdb)")
    return plans


def attach_argv(pid: int, capture: Path, duration_s: float) -> list[str]:
    """``memray attach`` for one window: aggregated, pymalloc traced, ``duration_s`` (whole seconds, at least 1)."""
    return [sys.executable, "-m", "memray", "attach", "--aggregate", "--trace-python-allocators", "-f",
            "-o", str(capture), "--duration", str(max(1, round(duration_s))), str(pid)]


def serving_processes(pids: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(role, pid) of the given processes and their Python descendants (forked gunicorn workers)."""
    import psutil

    found: list[tuple[str, int]] = []
    for role, pid in pids:
        found.append((role, pid))
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            continue
        for child in children:
            try:
                if "python" in Path(child.exe()).name:
                    found.append((f"{role}-worker", child.pid))
            except psutil.Error:
                continue
    return found


class MemrayWindows:
    """Runs the planned windows in a thread, from the run's t0: attach at each window's start,
    wait for its end, record it. :meth:`stop` ends a window in progress early (``memray
    detach``) so its capture is complete."""

    def __init__(self, plans: list[WindowPlan], t0_s: float, processes: Callable[[], list[tuple[str, int]]],
                 run_dir: Path, append_event: Callable[..., dict]) -> None:
        self.plans, self.t0_s, self.processes = list(plans), float(t0_s), processes
        self.run_dir = Path(run_dir)
        self.out_dir = self.run_dir / "platform" / CAPTURE_DIR
        self.append_event = append_event
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._attached: list[tuple[str, int, Path]] = []
        self._thread = threading.Thread(target=self._run, name="memray-windows", daemon=True)

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> list[str]:
        """Stop (a window in progress is detached and recorded); the errors met."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        return self.errors

    def _run(self) -> None:
        for plan in self.plans:
            if self._stop.wait(max(0.0, self.t0_s + plan.start_offset_s - time.time())):
                return
            try:
                self._window(plan)
            except Exception as error:  # noqa: BLE001 - a profiler never takes the run down
                self.errors.append(f"window {plan.index}: {type(error).__name__}: {error}")

    def _window(self, plan: WindowPlan) -> None:
        captures, errors = [], []
        start_t_s = time.time()
        for role, pid in self.processes():
            capture = self.out_dir / f"window-{plan.index}-{role}-{pid}.bin"
            error = _attach(pid, capture, plan.duration_s)
            if error:
                errors.append(f"{role} pid {pid}: {error}")
            else:
                captures.append({"role": role, "pid": pid, "capture": self._relative(capture)})
                self._attached.append((role, pid, capture))
        self.errors.extend(f"window {plan.index}: {e}" for e in errors)
        self.append_event("memray_window_start", t_s=start_t_s, window=plan.index, planned_s=plan.duration_s,
                          captures=captures, errors=errors)
        if not captures:
            return
        cut_short = self._stop.wait(max(1, round(plan.duration_s)) + 0.5)  # memray tracks whole seconds
        if cut_short:
            for _, pid, _ in self._attached:
                _detach(pid)
        end_t_s = time.time()
        for _, _, capture in self._attached:  # memray writes the file as it detaches
            _wait_for_file(capture, FLUSH_GRACE_S)
        for entry in captures:
            path = self.run_dir / entry["capture"]
            entry["size_bytes"] = path.stat().st_size if path.exists() else None
            if entry["size_bytes"] is None:
                errors.append(f"{entry['role']} pid {entry['pid']}: no capture written to {entry['capture']}")
        self.append_event("memray_window_end", t_s=end_t_s, window=plan.index, start_t_s=start_t_s,
                          duration_s=round(end_t_s - start_t_s, 3), cut_short=cut_short, captures=captures,
                          errors=errors)
        self._attached = []

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.run_dir).as_posix()
        except ValueError:
            return str(path)


def _attach(pid: int, capture: Path, duration_s: float) -> str | None:
    """Attach memray for ``duration_s``; None, or why it did not attach."""
    try:
        done = subprocess.run(attach_argv(pid, capture, duration_s), capture_output=True, text=True,
                              timeout=ATTACH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"memray attach took over {ATTACH_TIMEOUT_S:g} s"
    except OSError as error:
        return f"memray attach could not run: {error}"
    if done.returncode != 0:
        text = " ".join((done.stderr or done.stdout or "").split())[-300:]
        return f"memray attach exited with code {done.returncode}: {text}"
    return None


def _detach(pid: int) -> None:
    try:
        subprocess.run([sys.executable, "-m", "memray", "detach", str(pid)], capture_output=True,
                       timeout=ATTACH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError):
        pass


def _wait_for_file(path: Path, timeout_s: float) -> None:
    """Until ``path``'s size holds still for 0.3 s (memray has written it), at most ``timeout_s``."""
    deadline_s = time.monotonic() + timeout_s
    last = -1
    while time.monotonic() < deadline_s:
        size = path.stat().st_size if path.exists() else -1
        if size > 0 and size == last:
            return
        last = size
        time.sleep(0.3)
