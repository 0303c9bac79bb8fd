"""Generators on several hosts: the master's options, the join token, and what the console says
about workers joining, refused, lost or missing (docs/distributed.md).

``harness campaign --master-bind ADDR[:PORT] --expect-workers N`` binds the Locust master where
other hosts reach it and waits (bounded by ``--workers-wait``) for N ``harness worker --master
ADDR:PORT`` processes. Every worker must hold the join token (HARNESS_JOIN_TOKEN, or
``--join-token-file`` on both sides); without one given, the master makes one and prints it.
The handshake itself (versions, clocks, indexes) is loadtests/join.py over harness.core.join.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError

TOKEN_ENV = "HARNESS_JOIN_TOKEN"
DEFAULT_MASTER_PORT = 5557  # Locust's
DEFAULT_WAIT_S = 120.0
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class MasterOptions:
    """Where the master listens, how many workers from other hosts it waits for, and for how long."""

    bind: tuple[str, int] | None  # None: 127.0.0.1 on a free port (local workers only)
    remote_workers: int
    wait_s: float
    token: str
    token_generated: bool  # made here (printed once for the workers), not given by the user

    def worker_command(self) -> str:
        """What to run on each worker host."""
        host, port = self.bind or ("127.0.0.1", DEFAULT_MASTER_PORT)
        token = f"{TOKEN_ENV}={self.token} " if self.token_generated else ""
        return f"{token}harness worker --master {host}:{port}"

    def as_manifest(self) -> dict:
        return {"bind": f"{self.bind[0]}:{self.bind[1]}" if self.bind else None,
                "remote_workers": self.remote_workers, "wait_s": self.wait_s,
                "token": "generated" if self.token_generated else "given"}  # never the token itself


def parse_address(value: str, flag: str, default_port: int = DEFAULT_MASTER_PORT) -> tuple[str, int]:
    """``ADDR[:PORT]`` (``[v6]:PORT`` for IPv6) as (host, port); InputError naming ``flag``."""
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise InputError(f"{flag} {value!r}: give an address or host name, e.g. 10.0.0.5 or 10.0.0.5:5557")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise InputError(f"{flag} {value!r}: the port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise InputError(f"{flag} {value!r}: the port must be 1-65535")
    return host, port


def check_bind_address(host: str, flag: str) -> None:
    """The master can listen on ``host`` here (one of this machine's addresses, or 0.0.0.0)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.getaddrinfo(host, None)
        except OSError as error:
            raise InputError(f"{flag} {host!r}: cannot resolve it: {error}") from None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError as error:
            raise InputError(f"{flag} {host!r}: this machine cannot listen there ({error.strerror or error}); "
                             "give one of its own addresses, or 0.0.0.0 for all") from None


def read_token(path: str | None, flag: str = "--join-token-file") -> str | None:
    """The join token from ``path`` (first line) or HARNESS_JOIN_TOKEN; None when neither."""
    if path:
        try:
            token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0:1]
        except OSError as error:
            raise InputError(f"{flag} {path}: cannot read it: {error.strerror or error}") from None
        token_text = token[0].strip() if token else ""
        if len(token_text) < MIN_TOKEN_CHARS:
            raise InputError(f"{flag} {path}: the token must be at least {MIN_TOKEN_CHARS} characters on its first line")
        return token_text
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env and len(env) < MIN_TOKEN_CHARS:
        raise InputError(f"{TOKEN_ENV}: the token must be at least {MIN_TOKEN_CHARS} characters")
    return env or None


def master_options(master_bind: str | None, expect_workers: int, wait_s: float | None,
                   token_file: str | None) -> MasterOptions:
    """Validate the master's flags (InputError naming the flag)."""
    if expect_workers < 0:
        raise InputError(f"--expect-workers {expect_workers}: must be 0 or more")
    if expect_workers and not master_bind:
        raise InputError("--expect-workers needs --master-bind ADDR[:PORT]: the address the workers on other "
                         "hosts connect to")
    if master_bind and not expect_workers:
        raise InputError("--master-bind needs --expect-workers N: how many workers from other hosts to wait for")
    wait = DEFAULT_WAIT_S if wait_s is None else float(wait_s)
    if not 1.0 <= wait <= 3600.0:
        raise InputError(f"--workers-wait {wait_s}: must be 1-3600 seconds")
    bind = None
    if master_bind:
        bind = parse_address(master_bind, "--master-bind")
        check_bind_address(bind[0], "--master-bind")
    token = read_token(token_file)
    return MasterOptions(bind=bind, remote_workers=expect_workers, wait_s=wait,
                         token=token or secrets.token_urlsafe(24), token_generated=token is None)


def say_worker_event(event: dict) -> tuple[str, str] | None:
    """A console line (text, style) for a worker event of the recorder's, else None."""
    kind = event.get("kind")
    if kind == "worker_joined":
        clock = event.get("clock") or {}
        problem = event.get("clock_problem")
        return (f"worker joined: {event.get('name')} ({event.get('host')}), clock offset "
                f"{float(clock.get('offset_s') or 0):+.4f} s ± {float(clock.get('error_bound_s') or 0):.4f}"
                + (f"; {problem}" if problem else ""), "yellow" if problem else "")
    if kind == "worker_refused":
        return f"worker refused: {event.get('reason')} (from {event.get('host') or '?'})", "bold red"
    if kind == "worker_lost":
        return (f"worker lost: {event.get('worker')} {event.get('name')} ({event.get('host')}), no report since "
                f"t={event.get('last_report_t_s')}; its share of the load is missing from here on", "bold red")
    if kind == "workers_missing":
        return missing_detail(event), "bold red"
    return None


def missing_detail(event: dict) -> str:
    """The message of a ``workers_missing`` event: how many joined, which, and who was refused."""
    names = ", ".join(event.get("names") or []) or "none"
    refused = "; ".join(event.get("refused") or [])
    return (f"{event.get('joined')} of {event.get('expected')} workers joined within {event.get('waited_s')} s "
            f"(joined: {names})" + (f"; refused: {refused}" if refused else ""))


def workers_failure_detail(events: list[dict], expected: int, wait_s: float) -> str | None:
    """Why the master ended before the load when its workers did not all join; None otherwise."""
    if any(e.get("kind") == "run_start" for e in events):
        return None
    for event in events:
        if event.get("kind") == "workers_missing":
            return missing_detail(event)
    joined = [f"{e.get('name')} ({e.get('host')})" for e in events if e.get("kind") == "worker_joined"]
    refused = [str(e.get("reason")) for e in events if e.get("kind") == "worker_refused"]
    if len(joined) >= expected and not refused:
        return None
    return missing_detail({"expected": expected, "joined": len(joined), "names": joined, "refused": refused,
                           "waited_s": wait_s})
