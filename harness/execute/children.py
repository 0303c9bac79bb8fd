"""Child-process plumbing shared by the platform and Locust launchers (private).

Children run in their own session, so a terminal's Ctrl-C reaches only the harness, which then
stops them in order (load first, then the platform); on Linux they also get SIGTERM if the
harness itself dies (``PR_SET_PDEATHSIG``), so a killed harness leaves no orphans behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from harness.config.paths import INVOKED_FROM_ENV, install_root, invocation_dir

#: where harness/ and its sibling packages are installed (harness.config.paths): the children's
#: working directory, so a user's folders never shadow the harness's own packages in them
REPO_ROOT = install_root()
_PR_SET_PDEATHSIG = 1


# Looked up once in the parent: the child, between fork and exec, must not call dlopen().
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python: unbuffered, with the repository importable."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    env[INVOKED_FROM_ENV] = str(invocation_dir())  # relative paths resolve from the user's directory
    env.update(extra or {})
    return env


def spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None, pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start ``argv`` in its own session with stdout and stderr appended to ``log_path``
    (``pass_fds``: open descriptors the child inherits, e.g. a listening socket)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds,
            env=env or child_env(), cwd=str(cwd or REPO_ROOT), start_new_session=True,
            preexec_fn=_die_with_parent if _prctl is not None else None,
        )


def terminate_tree(proc: subprocess.Popen, grace_s: float, first_signal: int = signal.SIGTERM) -> int | None:
    """Send ``first_signal`` to ``proc``, wait up to ``grace_s`` seconds, then SIGKILL it and every
    descendant still alive. Returns the process's exit code (None if it could not be reaped)."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    if proc.poll() is None:
        try:
            proc.send_signal(first_signal)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    # Descendants get a short grace of their own (their parent may already be stopping them).
    _, alive = psutil.wait_procs([p for p in descendants if _alive(p)], timeout=min(grace_s, 5.0))
    for leftover in alive:
        try:
            leftover.kill()
        except psutil.Error:
            pass
    return proc.returncode


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind to port 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, max_chars: int = 2000) -> str:
    """The last ``max_chars`` characters of a log file ('' if absent)."""
    try:
        data = path.read_bytes()[-max_chars:]
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace").strip()
