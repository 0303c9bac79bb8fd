"""CPU profiles of running processes with py-spy: speedscope JSON, a flame graph SVG, top functions.

One ``py-spy record --pid PID --subprocesses --nonblocking --format speedscope`` per root
process (a pid whose ancestor is also listed is left to that ancestor's ``--subprocesses``).
``--nonblocking`` reads the target's memory without pausing it, so the profiled platform runs at
full speed (the samples can occasionally be inconsistent; that is the price). The SVG flame graph
is drawn from the same speedscope samples rather than by a second py-spy attached to the same
processes: half the sampling cost, and both views show the same samples.

If py-spy is missing or cannot attach (no ptrace permission: containers without
``CAP_SYS_PTRACE``, ``kernel.yama.ptrace_scope`` > 0 for non-root), :meth:`CpuProfiler.stop`
says so in ``error`` and the run carries on.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import psutil

from harness.rundir import write_text_atomic

RATE_HZ = 100
ATTACH_CHECK_S = 1.5  # py-spy that cannot attach exits within this time
STOP_TIMEOUT_S = 30.0  # py-spy writes its file after SIGINT; large profiles take a while
TOP_FUNCTIONS = 20
PTRACE_HINT = ("py-spy needs ptrace permission: run the harness as root or with CAP_SYS_PTRACE "
               "(docker run --cap-add SYS_PTRACE), or set kernel.yama.ptrace_scope=0")


def py_spy_path() -> str | None:
    """The py-spy executable next to this Python, else on PATH, else None."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def root_pids(pids: list[int]) -> list[int]:
    """``pids`` without those that descend from another listed pid (covered by --subprocesses)."""
    listed = set(pids)
    roots = []
    for pid in dict.fromkeys(pids):
        try:
            ancestors = {p.pid for p in psutil.Process(pid).parents()}
        except psutil.Error:
            continue  # gone already
        if not ancestors & listed:
            roots.append(pid)
    return roots


class CpuProfiler:
    """py-spy attached to ``pids`` (and their children) from :meth:`start` to :meth:`stop`."""

    def __init__(self, pids: list[int], out_dir: Path, rate_hz: int = RATE_HZ, name: str = "cpu") -> None:
        self.pids = list(pids)
        self.out_dir = Path(out_dir)
        self.rate_hz = rate_hz
        self.name = name
        self._procs: list[tuple[int, subprocess.Popen, Path, Path]] = []
        self._errors: list[str] = []
        self._started_s = 0.0

    def start(self) -> None:
        """Start one py-spy per root pid; returns after a short check that each one attached."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        exe = py_spy_path()
        if exe is None:
            self._errors.append("py-spy is not installed (pip install py-spy); no CPU profile")
            return
        self._started_s = time.monotonic()
        gone = [pid for pid in self.pids if not psutil.pid_exists(pid)]
        if gone:
            self._errors.append(f"pid(s) {gone} not running: not profiled")
        for pid in root_pids(self.pids):
            out = self.out_dir / f"{self.name}-{pid}.speedscope.json"
            log = self.out_dir / f"{self.name}-{pid}.py-spy.log"
            argv = [exe, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                    "--rate", str(self.rate_hz), "--format", "speedscope", "-o", str(out)]
            with open(log, "wb") as log_handle:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_handle,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            self._procs.append((pid, proc, out, log))
        deadline = time.monotonic() + ATTACH_CHECK_S
        while self._procs and time.monotonic() < deadline and all(p.poll() is None for _, p, _, _ in self._procs):
            time.sleep(0.1)
        for pid, proc, _, log in self._procs:
            if proc.poll() is not None:
                self._errors.append(self._attach_error(pid, proc.returncode, log))

    @staticmethod
    def _attach_error(pid: int, returncode: int, log: Path) -> str:
        text = log.read_text(errors="replace").strip() if log.exists() else ""
        last = text.splitlines()[-1] if text else ""
        hint = f"; {PTRACE_HINT}" if any(w in text.lower() for w in ("permission", "ptrace", "denied",
                                                                          "operation not permitted")) else ""
        return f"py-spy could not attach to pid {pid} (exit {returncode}): {last}{hint}"

    def stop(self) -> dict:
        """Stop py-spy (SIGINT: it writes its file), render SVGs, and summarise.

        Returns ``{"ok", "error", "duration_s", "files": [paths relative to out_dir's parent],
        "speedscope": [...], "flamegraph_svg": [...], "samples", "top_functions": [{"function",
        "file", "line", "own_samples", "own_fraction"}]}``.
        """
        for _, proc, _, _ in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        for pid, proc, _, _ in self._procs:
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
                self._errors.append(f"py-spy for pid {pid} did not stop within {STOP_TIMEOUT_S:.0f} s")
        duration_s = time.monotonic() - self._started_s if self._started_s else 0.0
        speedscope, svgs, own = [], [], Counter()
        total = 0
        for pid, _, out, _ in self._procs:
            if not out.exists():
                continue
            try:
                document = json.loads(out.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                self._errors.append(f"{out.name}: unreadable speedscope file ({error})")
                continue
            speedscope.append(out)
            stacks = speedscope_stacks(document)
            counts = own_samples(stacks)
            own.update(counts)
            total += sum(n for _, n in stacks)
            svg = out.with_name(out.name.replace(".speedscope.json", ".svg"))
            write_text_atomic(svg, flamegraph_svg(stacks, title=f"CPU: pid {pid} and children"))
            svgs.append(svg)
        relative = self.out_dir.name
        top = [{"function": f, "file": fi, "line": ln, "own_samples": n,
                "own_fraction": round(n / total, 4) if total else 0.0}
               for (f, fi, ln), n in own.most_common(TOP_FUNCTIONS)]
        return {
            "ok": bool(speedscope) and not self._errors,
            "error": "; ".join(self._errors) or None,
            "duration_s": round(duration_s, 1),
            "rate_hz": self.rate_hz,
            "pids": self.pids,
            "speedscope": [f"{relative}/{p.name}" for p in speedscope],
            "flamegraph_svg": [f"{relative}/{p.name}" for p in svgs],
            "files": [f"{relative}/{p.name}" for p in speedscope + svgs],
            "samples": int(round(total)),
            "top_functions": top,
        }


def speedscope_stacks(document: dict) -> list[tuple[tuple[tuple[str, str, int], ...], float]]:
    """(stack root-first as (function, file, line) frames, weight in samples) from a speedscope
    document written by py-spy (sampled profiles, one per thread)."""
    frames = [(f.get("name", "?"), f.get("file", "?"), int(f.get("line") or 0))
              for f in document.get("shared", {}).get("frames", [])]
    stacks: Counter = Counter()
    for profile in document.get("profiles", []):
        if profile.get("type") != "sampled":
            continue
        weights = profile.get("weights") or []
        unit_weight = min((w for w in weights if w > 0), default=1.0)
        for index, sample in enumerate(profile.get("samples", [])):
            weight = weights[index] / unit_weight if index < len(weights) and unit_weight else 1.0
            stacks[tuple(frames[i] for i in sample if i < len(frames))] += weight
    return [(stack, round(n, 6)) for stack, n in stacks.items() if stack]


def own_samples(stacks) -> Counter:
    """Samples whose innermost frame is each (function, file, line): own (self) time."""
    own: Counter = Counter()
    for stack, n in stacks:
        own[stack[-1]] += int(round(n))
    return own


def flamegraph_svg(stacks, title: str, width_px: int = 1200, row_px: int = 16) -> str:
    """A static flame graph (root at the bottom) of ``stacks`` as SVG text; frames narrower than
    0.1% of the width are left out. Hover a box for its function, file:line and samples."""
    tree: dict = {"n": 0.0, "children": {}}
    for stack, n in stacks:
        node = tree
        node["n"] += n
        for frame in stack:
            node = node["children"].setdefault(frame, {"n": 0.0, "children": {}})
            node["n"] += n
    total = tree["n"] or 1.0
    boxes: list[tuple[float, int, float, tuple[str, str, int], float]] = []
    depth_max = 0

    def walk(node: dict, x: float, depth: int) -> None:
        nonlocal depth_max
        for frame, child in sorted(node["children"].items(), key=lambda kv: kv[0]):
            w = child["n"] / total * width_px
            if w >= width_px * 0.001:
                boxes.append((x, depth, w, frame, child["n"]))
                depth_max = max(depth_max, depth)
                walk(child, x, depth + 1)
            x += w

    walk(tree, 0.0, 0)
    height = (depth_max + 2) * row_px + 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_px}" height="{height}" '
             f'font-family="monospace" font-size="11">',
             f'<text x="4" y="14">{html.escape(title)} ({int(total)} samples)</text>']
    for x, depth, w, (function, file, line), n in boxes:
        y = height - (depth + 1) * row_px
        hue = 20 + zlib.crc32(function.encode()) % 40  # stable colours run to run
        label = f"{function} ({Path(file).name}:{line})"
        tip = html.escape(f"{function} {file}:{line} - {int(n)} samples ({100 * n / total:.1f}%)")
        parts.append(f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_px - 1}" '
                     f'fill="hsl({hue},85%,60%)"/>')
        if w > 40:
            parts.append(f'<text x="{x + 2:.1f}" y="{y + row_px - 4}">{html.escape(label[: int(w / 6.6)])}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
