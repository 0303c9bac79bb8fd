"""Process sampler: psutil readings of the platform's process tree and the load generators at ~1 Hz.

Streams ``samples.csv`` (``t_s,pid,role,rss_bytes,uss_bytes,cpu_percent,num_threads,num_fds``,
docs/run-directory.md), one row per live process per tick, flushed every tick. ``uss_bytes`` is
left empty for ``generator`` rows (USS is the one expensive reading; the generator's memory is
not under test). It runs as a
daemon thread in the harness process: the harness mostly waits, and reading ``/proc`` costs the
sampled processes nothing but the kernel's smaps walk, which runs in *our* thread. The thread's
own CPU time is measured (``time.thread_time``) and reported by :meth:`ProcessSampler.stop`.

Usage::

    sampler = ProcessSampler(run_dir / "samples.csv")
    sampler.watch(platform_pid, "shop", child_role="shop-worker")
    sampler.start()
    ...
    cost = sampler.stop()   # SamplerCost(ticks, rows, cpu_s, wall_s, cpu_percent_of_core)
"""

from __future__ import annotations

import csv
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from harness.rundir import schema

SAMPLE_COLUMNS = tuple(schema.SAMPLES.columns)
ROLES = schema.ROLES
# USS (memory growth, leaks) is read for the service's processes only: it is the expensive
# reading, and a load generator's memory is not under test (its rows leave uss_bytes empty).
USS_ROLES = schema.USS_ROLES
_HAS_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


@dataclass(frozen=True)
class WatchedRoot:
    """A process to sample, with the role of its descendants (None: the same role)."""

    pid: int
    role: str
    child_role: str | None = None
    include_children: bool = True


@dataclass(frozen=True)
class SamplerCost:
    """What sampling cost: CPU seconds of the sampler thread over the wall seconds it ran."""

    ticks: int
    rows: int
    interval_s: float
    cpu_s: float
    wall_s: float
    cpu_percent_of_core: float
    mean_tick_ms: float

    def as_dict(self) -> dict:
        """Plain dict for the manifest."""
        return asdict(self)


class ProcessSampler:
    """Samples registered processes (and their descendants) every ``interval_s`` seconds."""

    def __init__(self, samples_path: Path, interval_s: float = 1.0) -> None:
        self.samples_path = Path(samples_path)
        self.interval_s = interval_s
        self._roots: dict[int, WatchedRoot] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._cpu_primed: set[int] = set()  # pids whose cpu_percent() has a previous reading
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0
        self._rows = 0
        self._cpu_s = 0.0
        self._tick_cpu_s = 0.0
        self._started_wall_s = 0.0
        self._wall_s = 0.0

    def watch(self, pid: int, role: str, child_role: str | None = None,
              include_children: bool = True) -> None:
        """Sample ``pid`` under ``role``; its descendants get ``child_role`` (default ``role``).

        A pid registered explicitly keeps its own role even when it descends from another root.
        """
        with self._lock:
            self._roots[pid] = WatchedRoot(pid, role, child_role, include_children)

    def unwatch(self, pid: int) -> None:
        """Stop sampling ``pid`` (and its descendants)."""
        with self._lock:
            self._roots.pop(pid, None)

    def start(self) -> None:
        """Start the sampling thread (writes the CSV header if the file is new)."""
        self.samples_path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.samples_path.exists() or self.samples_path.stat().st_size == 0
        self._handle = open(self.samples_path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        if new_file:
            self._writer.writerow(SAMPLE_COLUMNS)
            self._handle.flush()
        self._started_wall_s = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="process-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> SamplerCost:
        """Take a last sample, stop the thread, close the file; returns what sampling cost."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None
            try:
                self._handle.close()
            except OSError:  # a full disk: the rows flushed before stay, the run still gets its end
                pass
            self._wall_s = time.monotonic() - self._started_wall_s
        return self.cost()

    def cost(self) -> SamplerCost:
        """CPU seconds the sampler thread used so far over the wall seconds it has run."""
        wall_s = self._wall_s or (time.monotonic() - self._started_wall_s if self._started_wall_s else 0.0)
        return SamplerCost(
            ticks=self._ticks, rows=self._rows, interval_s=self.interval_s,
            cpu_s=round(self._cpu_s, 6), wall_s=round(wall_s, 3),
            cpu_percent_of_core=round(100.0 * self._cpu_s / wall_s, 4) if wall_s > 0 else 0.0,
            mean_tick_ms=round(1000.0 * self._tick_cpu_s / self._ticks, 4) if self._ticks else 0.0,
        )

    # --- the thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        thread_cpu_start_s = time.thread_time()
        next_tick_s = time.monotonic()
        while True:
            tick_cpu_start_s = time.thread_time()
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - a sampler must never take the run down
                pass
            self._tick_cpu_s += time.thread_time() - tick_cpu_start_s
            self._cpu_s = time.thread_time() - thread_cpu_start_s
            if self._stop.is_set():
                return
            next_tick_s += self.interval_s
            # wait() returns early on stop(): then loop once more for a final sample
            self._stop.wait(max(0.0, next_tick_s - time.monotonic()))

    def sample_once(self) -> int:
        """Take one sample of every watched process now; returns the number of rows written."""
        t_s = time.time()
        rows = []
        for pid, role in self._current_processes():
            row = self._read(pid, role, t_s)
            if row is not None:
                rows.append(row)
        self._writer.writerows(rows)
        self._handle.flush()
        self._ticks += 1
        self._rows += len(rows)
        return len(rows)

    def _current_processes(self) -> list[tuple[int, str]]:
        with self._lock:
            roots = list(self._roots.values())
        roles: dict[int, str] = {root.pid: root.role for root in roots}
        if any(root.include_children for root in roots):
            children_of = _children_map([root.pid for root in roots if root.include_children])
            parent_of = {child: parent for parent, children in children_of.items() for child in children}
            depth = {root.pid: _depth(root.pid, parent_of) for root in roots}
            # Deepest roots first, so a descendant takes the role of its nearest watched ancestor.
            for root in sorted(roots, key=lambda r: -depth[r.pid]):
                if root.include_children:
                    for pid in _descendants(root.pid, children_of):
                        roles.setdefault(pid, root.child_role or root.role)
        # Forget processes that are gone so a reused pid starts afresh.
        for pid in set(self._procs) - set(roles):
            self._forget(pid)
        return sorted(roles.items())

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is not None and proc.is_running():
            return proc
        self._forget(pid)
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            return None
        self._procs[pid] = proc
        return proc

    def _forget(self, pid: int) -> None:
        self._procs.pop(pid, None)
        self._cpu_primed.discard(pid)

    def _read(self, pid: int, role: str, t_s: float) -> list | None:
        proc = self._process(pid)
        if proc is None:
            return None
        try:
            with proc.oneshot():
                if proc.status() == psutil.STATUS_ZOMBIE:
                    return None
                if pid not in self._cpu_primed:
                    # cpu_percent() needs a previous call; use the average since the process began.
                    proc.cpu_percent(None)
                    times = proc.cpu_times()
                    age_s = max(1e-3, t_s - proc.create_time())
                    cpu_percent = 100.0 * (times.user + times.system) / age_s
                    self._cpu_primed.add(pid)
                else:
                    cpu_percent = proc.cpu_percent(None)
                if role in USS_ROLES:
                    try:
                        full = proc.memory_full_info()  # USS: the kernel walks the page tables (~2-5 ms)
                        rss_bytes, uss_bytes = full.rss, full.uss
                    except psutil.AccessDenied:
                        rss_bytes, uss_bytes = proc.memory_info().rss, ""
                else:
                    rss_bytes, uss_bytes = proc.memory_info().rss, ""
                num_threads = proc.num_threads()
                try:
                    num_fds = proc.num_fds()
                except psutil.AccessDenied:
                    num_fds = ""
        except psutil.Error:
            self._forget(pid)
            return None
        return [f"{t_s:.3f}", pid, role, rss_bytes, uss_bytes, f"{cpu_percent:.1f}", num_threads, num_fds]



def _children_map(root_pids: list[int]) -> dict[int, list[int]]:
    """{parent pid: [child pids]} for the trees under ``root_pids``.

    Reads ``/proc/PID/task/TID/children`` (a few small files per process) rather than scanning
    every process on the machine, which cost ~7 ms a tick with ~130 processes; falls back to
    that scan where the kernel lacks the file.
    """
    children_of: dict[int, list[int]] = {}
    if not _HAS_PROC_CHILDREN:
        for proc in psutil.process_iter(["ppid"]):
            children_of.setdefault(proc.info["ppid"], []).append(proc.pid)
        return children_of
    stack, seen = list(root_pids), set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        kids: list[int] = []
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task.name}/children") as handle:
                    kids.extend(int(k) for k in handle.read().split())
        except OSError:
            continue  # the process (or one of its threads) is gone
        if kids:
            children_of[pid] = kids
            stack.extend(kids)
    return children_of


def _descendants(pid: int, children_of: dict[int, list[int]]) -> list[int]:
    """Every descendant of ``pid`` in a {parent pid: [child pids]} map."""
    found, stack = [], list(children_of.get(pid, ()))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children_of.get(child, ()))
    return found


def _depth(pid: int, parent_of: dict[int, int]) -> int:
    """How many ancestors ``pid`` has in a {child pid: parent pid} map."""
    depth = 0
    while pid in parent_of and parent_of[pid] != pid and depth < 1000:
        pid = parent_of[pid]
        depth += 1
    return depth
