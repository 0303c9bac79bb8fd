"""The run directory: where a run's manifest, events and raw records live (docs/run-directory.md).

Everything here is the imperative shell around one folder: create it (and prove it is writable
before any load starts), write ``manifest.json`` at the start and rewrite it atomically at the
end, append events line by line, and read them back.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.errors import InputError, RunFailedError

SCHEMA_VERSION = 1
TORN_LINE_EVENT = "torn_line"  # written after a torn line of events.jsonl (EventLog), skipped by readers
END_REASONS = ("completed", "interrupted", "aborted", "platform-died", "error", "running")
# Distributions whose versions go into the manifest (absent ones are simply left out).
VERSIONED_DISTRIBUTIONS = (
    "shop-harness", "locust", "psutil", "hdrhistogram", "fastapi", "uvicorn", "gunicorn",
    "memray", "py-spy", "pandas", "scipy", "rich", "requests",
)
DEFAULT_REPORTS_ROOT = Path("reports")
# Held in the run directory while the run goes on and freed first thing at its end, so that on a
# disk the run itself filled the manifest can still be marked (end_reason and why).
SPACE_RESERVE_NAME = ".space-reserve"
SPACE_RESERVE_BYTES = 256 * 1024


def make_run_id(profile_name: str, started_at: datetime, suffix_hex: str) -> str:
    """The run id ``YYYYmmddTHHMMSSZ-<profile-name>-<4 hex>`` (pure: time and suffix passed in)."""
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", profile_name).strip("-") or "run"
    return f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{safe_name}-{suffix_hex}"


def iso_utc(t_s: float) -> str:
    """Unix epoch seconds as ``2026-11-28T17:00:00Z`` (seconds precision, UTC)."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """THE atomic writer: write ``data`` to ``path`` through a temporary file beside it
    (``.NAME.PID.tmp``, fsynced) and a rename, so readers never see half a file: on any failure
    the temporary file is removed and ``path`` keeps its previous content. Raises RunFailedError
    naming ``path`` when it cannot be written (a full disk, a removed folder)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise RunFailedError(f"cannot write {path}: {error.strerror or error}") from error
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """``text`` (UTF-8) to ``path`` atomically, as :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON (indented, one trailing newline) to ``path`` atomically, as :func:`write_bytes_atomic`."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def ensure_writable_dir(path: Path, what: str = "output directory") -> None:
    """Create ``path`` if needed and prove a file can be written in it, or raise InputError naming it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        raise InputError(
            f"{what} {path} is not writable: {error.strerror or error} "
            "(choose another with --out)"
        ) from error


class EventLog:
    """Append-only ``events.jsonl``: one JSON object per line, each line one ``write()`` on an
    O_APPEND descriptor, so the harness and the recorder can append to the same file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, kind: str, t_s: float | None = None, **fields: Any) -> dict:
        """Append an event ``{"t_s", "kind", **fields}`` (t_s: Unix epoch seconds, now if None)."""
        event = {"t_s": round(time.time() if t_s is None else t_s, 6), "kind": kind, **fields}
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)  # RDWR: pread the last byte
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # A writer died mid-line: end its torn line and say so, so that readers know
                    # the fragment was cut, not corrupted (harness/rundir/read.py's policy).
                    marker = {"t_s": event["t_s"], "kind": TORN_LINE_EVENT}
                    line = b"\n" + json.dumps(marker, separators=(",", ":")).encode() + b"\n" + line
                os.write(fd, line)
            finally:
                os.close(fd)
        return event


def read_jsonl(path: Path) -> list[dict]:
    """Every JSON object line of ``path`` in file order ([] if absent).

    The run directory's one policy for bad lines (harness/rundir/read.py): a torn last line (a
    crash) is skipped; a line that is not JSON anywhere else is an InputError naming the file and
    line, unless the writer recorded the tear (a ``torn_line`` event follows it: see EventLog).
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.decode("utf-8", errors="replace").split("\n")
    torn_last = not data.endswith(b"\n")
    if not torn_last:
        lines.pop()  # the empty string after the final newline
    parsed: list[dict | None] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            value = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as error:
            value = None
            bad.append((number, str(error)))
        parsed.append(value if isinstance(value, dict) else None)
    for number, error in bad:
        if number == len(lines) and torn_last:
            continue  # the writer died mid-line: everything before it still counts
        following = next((p for p in parsed[number:] if p is not None), None)
        if following is not None and following.get("kind") == TORN_LINE_EVENT:
            continue  # a tear its writer recorded
        raise InputError(f"{path}:{number}: not valid JSON: {error}")
    return [p for p in parsed if p is not None and p.get("kind") != TORN_LINE_EVENT]


def _parse_lines(lines: list[str]) -> Iterator[dict]:
    """Complete lines being tailed live (EventTail): anything unparsable is skipped, not judged."""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and value.get("kind") != TORN_LINE_EVENT:
            yield value


class EventTail:
    """Reads events appended to ``events.jsonl`` since the last call (for live progress)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def read_new(self) -> list[dict]:
        """Events whose line was completed since the previous call."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next call
        return list(_parse_lines([line.decode("utf-8", errors="replace") for line in lines]))


class RunDirectory:
    """One run's folder, ``reports/<run-id>/`` or the ``--out`` given."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.events = EventLog(path / "events.jsonl")

    # --- layout -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def platform_dir(self) -> Path:
        return self.path / "platform"

    @property
    def profiles_dir(self) -> Path:
        return self.path / "profiles"

    @property
    def samples_path(self) -> Path:
        return self.path / "samples.csv"

    # --- creation -----------------------------------------------------------------------------
    @classmethod
    def create(cls, profile_name: str, out: Path | None = None,
               reports_root: Path = DEFAULT_REPORTS_ROOT) -> RunDirectory:
        """Create a fresh run directory (``out``, or a new ``reports_root/<run-id>``).

        Raises InputError naming the path when it cannot be written, and when ``out`` already
        holds a manifest (a run is never overwritten).
        """
        run_id = make_run_id(profile_name, datetime.now(UTC), secrets.token_hex(2))
        path = Path(out) if out is not None else Path(reports_root) / run_id
        if (path / "manifest.json").exists():
            raise InputError(f"--out {path} already holds a run (manifest.json); choose an empty directory")
        ensure_writable_dir(path)
        try:
            (path / SPACE_RESERVE_NAME).write_bytes(bytes(SPACE_RESERVE_BYTES))
        except OSError as error:
            (path / SPACE_RESERVE_NAME).unlink(missing_ok=True)
            raise InputError(f"output directory {path} has no room for a run: {error.strerror or error} "
                             "(free some space or choose another with --out)") from error
        return cls(path, run_id)

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        """An existing run directory (its run id read from the manifest, else the folder name)."""
        path = Path(path)
        manifest = read_manifest(path)
        return cls(path, manifest.get("run_id") or path.name)

    # --- manifest -----------------------------------------------------------------------------
    def write_start_manifest(self, *, argv: list[str], profile: dict, stages: list[dict],
                             target: str | None, embedded_platform: bool, workers: int,
                             faults: str | None, targets_file: str | None,
                             extra: dict | None = None) -> dict:
        """Write manifest.json at the start of the run (``ended_at: null``, ``end_reason: running``)."""
        now_s = time.time()
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "argv": list(argv),
            "started_at": iso_utc(now_s),
            "started_t_s": round(now_s, 3),
            "ended_at": None,
            "end_reason": "running",
            "end_detail": "",
            "t0_s": None,
            "profile": profile,
            "stages": stages,
            "target": target,
            "embedded_platform": embedded_platform,
            "workers": workers,
            "faults": faults,
            "targets_file": targets_file,
            "versions": collect_versions(),
            "git_revision": git_revision(),
            "host": host_facts(),
            **(extra or {}),
        }
        write_json_atomic(self.manifest_path, manifest)
        return manifest

    def update_manifest(self, **fields: Any) -> dict:
        """Rewrite manifest.json atomically with ``fields`` changed."""
        manifest = read_manifest(self.path)
        manifest.update(fields)
        write_json_atomic(self.manifest_path, manifest)
        return manifest

    def finish(self, end_reason: str, end_detail: str = "", **fields: Any) -> dict:
        """Append ``run_end`` and rewrite the manifest with ``ended_at``, ``end_reason`` and the
        recorder's ``t0_s`` (from its ``run_start`` event, when there is one)."""
        if end_reason not in END_REASONS:
            raise ValueError(f"end_reason {end_reason!r} is not one of {END_REASONS}")
        (self.path / SPACE_RESERVE_NAME).unlink(missing_ok=True)  # room for what follows on a full disk
        try:
            self.events.append("run_end", end_reason=end_reason)
        except OSError:
            pass  # the manifest below is what says how the run ended
        t0_s = next((e.get("t0_s") for e in self.read_events()
                     if e.get("kind") == "run_start" and e.get("t0_s") is not None), None)
        if t0_s is not None:
            fields.setdefault("t0_s", t0_s)
        try:
            return self.update_manifest(ended_at=iso_utc(time.time()), end_reason=end_reason,
                                        end_detail=end_detail, **fields)
        except RunFailedError as error:
            raise RunFailedError(f"{error}; the run ended ({end_reason}: {end_detail or 'no detail'}) but "
                                 f"{self.manifest_path} still says end_reason 'running'") from error

    # --- reading ------------------------------------------------------------------------------
    def read_manifest(self) -> dict:
        """The parsed manifest.json."""
        return read_manifest(self.path)

    def read_events(self) -> list[dict]:
        """Every event in events.jsonl, in file order."""
        return read_jsonl(self.path / "events.jsonl")


def read_manifest(path: Path) -> dict:
    """The parsed ``manifest.json`` of run directory ``path`` (InputError naming it if unreadable)."""
    manifest_path = Path(path) / "manifest.json"
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(f"{manifest_path} does not exist: is {path} a run directory?") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{manifest_path} is not valid JSON: {error}") from error


def collect_versions() -> dict[str, str]:
    """Python's and the installed distributions' versions (``importlib.metadata``)."""
    versions = {"python": platform.python_version()}
    try:
        from harness import __version__
        versions["harness"] = __version__
    except ImportError:  # pragma: no cover - the package is always importable here
        pass
    for name in VERSIONED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision(cwd: Path | None = None) -> str:
    """``<sha> (dirty)`` / ``<sha>`` of the working tree, or ``unknown`` outside a git checkout."""
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha} (dirty)" if dirty else sha


def host_facts() -> dict:
    """Hostname, CPU model, logical cores and OS of the machine that measured."""
    return {"hostname": socket.gethostname(), "cpu_model": _cpu_model(),
            "cores": os.cpu_count() or 0, "os": f"{platform.system()} {platform.release()}",
            "python_executable": sys.executable}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
