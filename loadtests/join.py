"""The join handshake between a Locust master and its workers, over Locust's custom messages.

The rules are pure, in harness.core.join; this module carries them (gevent, Locust runners):

worker                                   master
  harness_hello {name, host, versions, proof} ─►  refusal()? ─► harness_refused {reason} ─► worker exits 2
                                          ◄─ harness_clock {seq, t1}  (CLOCK_PINGS round trips)
  harness_clock_reply {seq, t1, t2, t3} ─►  estimate_offset() ─► worker_joined event (index, clock)
                                          ◄─ harness_load_plan {t0, index, workers, clock_offset_s, ...}
  harness_plan_ack {digest} ───────────►   digest differs? ─► refused
  (reports every 1 s: merged only from workers that joined)

The token: HARNESS_JOIN_TOKEN in the environment of the master and of every worker (the
harness sets it; ``harness worker --join-token-file`` reads it from a file). A master started
without one (plain ``locust --master`` by hand) accepts any worker and says so in its log.

Test-only: ``HARNESS_TEST_CLOCK_SKEW_S`` makes a worker's clock read that many seconds ahead of
the machine's (its clock replies and the timestamps it records), as a host with a wrong clock
would; ``HARNESS_TEST_LOAD_CODE`` replaces its load-code digest, as a worker with other code.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import gevent
import locust

import harness
from harness.core import join

log = logging.getLogger("loadtests.join")
HELLO, REFUSED, CLOCK, CLOCK_REPLY, PLAN_ACK = ("harness_hello", "harness_refused", "harness_clock",
                                                "harness_clock_reply", "harness_plan_ack")
TOKEN_ENV = "HARNESS_JOIN_TOKEN"
SKEW_ENV = "HARNESS_TEST_CLOCK_SKEW_S"
CODE_ENV = "HARNESS_TEST_LOAD_CODE"
PING_TIMEOUT_S = 2.0
REFUSED_EXIT = 2
_ROOT = Path(__file__).resolve().parent.parent


def load_code_digest() -> str:
    """A digest of the code a worker runs the load with: loadtests/, scenarios/, the profile parser."""
    if os.environ.get(CODE_ENV):
        return os.environ[CODE_ENV]
    files = [*sorted((_ROOT / "loadtests").glob("*.py")), *sorted((_ROOT / "scenarios").glob("*.py")),
             _ROOT / "harness" / "config" / "profile.py"]
    return join.code_digest((str(p.relative_to(_ROOT)), p.read_bytes()) for p in files if p.is_file())


def versions() -> dict[str, str]:
    return {"harness": harness.__version__, "locust": locust.__version__, "load_code": load_code_digest()}


def clock_skew_s() -> float:
    """The test-only skew of this process's clock (0.0 unless HARNESS_TEST_CLOCK_SKEW_S is set)."""
    try:
        return float(os.environ.get(SKEW_ENV) or 0.0)
    except ValueError:
        return 0.0


def _local_address(master_host: str, master_port: int) -> str:
    """The address this host reaches the master from (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((master_host, master_port))
            return sock.getsockname()[0]
    except OSError:
        return socket.gethostname()


# --- worker -----------------------------------------------------------------------------------------
class WorkerSide:
    """Says hello, answers clock pings, acknowledges the plan, leaves when refused."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.skew_s = clock_skew_s()
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.host = _local_address(self.runner.master_host, self.runner.master_port)
        for kind, handler in ((REFUSED, self._on_refused), (CLOCK, self._on_clock)):
            self.runner.register_message(kind, handler)

    def hello(self) -> None:
        token = os.environ.get(TOKEN_ENV, "")
        self.runner.send_message(HELLO, {
            "name": self.name, "host": self.host, "versions": versions(),
            "proof": join.proof(token, self.runner.client_id) if token else "",
        })

    def _on_clock(self, environment, msg, **_kwargs) -> None:
        t2 = time.time() + self.skew_s
        data = dict(msg.data)
        data.update(t2=t2, t3=time.time() + self.skew_s)
        self.runner.send_message(CLOCK_REPLY, data)

    def _on_refused(self, environment, msg, **_kwargs) -> None:
        log.error("the master refused this worker: %s", (msg.data or {}).get("reason"))
        self.environment.process_exit_code = REFUSED_EXIT
        gevent.spawn_later(0.2, self.runner.quit)

    def acknowledge_plan(self, digest: str) -> None:
        self.runner.send_message(PLAN_ACK, {"digest": digest})


# --- master -----------------------------------------------------------------------------------------
@dataclass
class Joined:
    """A worker that joined: its index among the joined (its rows' ``worker``), whence, its clock."""

    client_id: str
    index: int
    name: str
    host: str
    versions: dict
    clock: join.ClockEstimate
    joined_t_s: float
    lost_t_s: float | None = None
    planned: bool = False  # got a share of this run's plan (a worker joining later gets none)


@dataclass
class MasterSide:
    """Accepts or refuses workers, measures their clocks, assigns their indexes."""

    environment: object
    writer: object  # loadtests.records.RunWriter: events
    token: str = field(default_factory=lambda: os.environ.get(TOKEN_ENV, ""))
    joined: dict[str, Joined] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    last_report_t_s: dict[str, float] = field(default_factory=dict)
    plan_digest: str | None = None  # of the profile and mix sent with the plan (harness.core.join.content_digest)
    plan_sent: bool = False
    _pending: dict[str, dict] = field(default_factory=dict)  # client id -> hello, pings in flight

    def __post_init__(self) -> None:
        self.runner = self.environment.runner
        self.versions = versions()
        for kind, handler in ((HELLO, self._on_hello), (CLOCK_REPLY, self._on_clock_reply),
                              (PLAN_ACK, self._on_plan_ack)):
            self.runner.register_message(kind, handler)
        if not self.token:
            log.warning("no %s set: any process that reaches the master's port can join", TOKEN_ENV)

    # hello
    def _on_hello(self, environment, msg, **_kwargs) -> None:
        client_id, hello = msg.node_id, dict(msg.data or {})
        if client_id in self.joined or client_id in self._pending:
            return
        if not self.token:  # a master started by hand without a token: versions are still checked
            hello["proof"] = join.proof("", client_id)
        reason = join.refusal(hello, client_id, self.token, self.versions)
        if reason is not None:
            self.refuse(client_id, hello, reason)
            return
        self._pending[client_id] = {"hello": hello, "trips": []}
        gevent.spawn(self._measure_clock, client_id)

    def refuse(self, client_id: str, hello: dict, reason: str) -> None:
        self.refused[client_id] = reason
        self.joined.pop(client_id, None)
        self._pending.pop(client_id, None)
        log.error("refused %s: %s", client_id, reason)
        self.writer.event("worker_refused", time.time(), client_id=client_id, name=hello.get("name"),
                          host=hello.get("host"), reason=reason)
        try:
            self.runner.send_message(REFUSED, {"reason": reason}, client_id=client_id)
        except Exception:  # noqa: BLE001 - a worker that already left
            pass

    # clock
    def _measure_clock(self, client_id: str) -> None:
        pending = self._pending.get(client_id)
        for seq in range(join.CLOCK_PINGS):
            if pending is None or client_id in self.refused:
                return
            got = len(pending["trips"])
            self.runner.send_message(CLOCK, {"seq": seq, "t1": time.time()}, client_id=client_id)
            deadline = time.monotonic() + PING_TIMEOUT_S
            while len(pending["trips"]) == got and time.monotonic() < deadline:
                gevent.sleep(0.005)
        if not pending["trips"]:
            self.refuse(client_id, pending["hello"], f"worker {pending['hello'].get('name') or client_id}: "
                                                     "did not answer the clock pings")
            return
        self._admit(client_id, pending["hello"], join.estimate_offset(pending["trips"]))

    def _on_clock_reply(self, environment, msg, **_kwargs) -> None:
        t4 = time.time()
        pending = self._pending.get(msg.node_id)
        data = msg.data or {}
        if pending is not None:
            pending["trips"].append((float(data["t1"]), float(data["t2"]), float(data["t3"]), t4))

    def _admit(self, client_id: str, hello: dict, clock: join.ClockEstimate) -> None:
        self._pending.pop(client_id, None)
        index = len(self.joined)  # the join order; the plan gives the final indexes (plan_indexes)
        worker = Joined(client_id, index, str(hello.get("name") or client_id), str(hello.get("host") or ""),
                        dict(hello.get("versions") or {}), clock, time.time())
        self.joined[client_id] = worker
        if self.plan_sent:
            log.warning("worker %s joined after the plan was sent: it gets no share of this run", worker.name)
        problem = join.clock_problem(worker.name, clock.offset_s)
        log.info("worker %s joined: %s, clock offset %+.4f s (±%.4f)", worker.name, worker.host,
                 clock.offset_s, clock.error_bound_s)
        self.writer.event("worker_joined", worker.joined_t_s, client_id=client_id,
                          name=worker.name, host=worker.host, versions=worker.versions, clock=clock.as_dict(),
                          clock_limit_s=join.CLOCK_OFFSET_LIMIT_S, clock_problem=problem, after_plan=self.plan_sent)

    # plan
    def plan_indexes(self, t_s: float) -> list[Joined]:
        """The workers that get the plan, indexed 0..n-1 in join order (their rows' ``worker``);
        a ``workers_planned`` event maps each index to its name, host and clock."""
        planned = sorted(self.joined.values(), key=lambda w: w.joined_t_s)
        for index, worker in enumerate(planned):
            worker.index, worker.planned = index, True
            self.last_report_t_s.setdefault(worker.client_id, t_s)  # one that never reports is lost too
        self.plan_sent = True
        self.writer.event("workers_planned", t_s, workers=[
            {"worker": str(w.index), "client_id": w.client_id, "name": w.name, "host": w.host,
             "clock": w.clock.as_dict(), "clock_problem": join.clock_problem(w.name, w.clock.offset_s)}
            for w in planned], clock_limit_s=join.CLOCK_OFFSET_LIMIT_S)
        return planned

    def _on_plan_ack(self, environment, msg, **_kwargs) -> None:
        worker = self.joined.get(msg.node_id)
        expected = self.plan_digest
        digest = (msg.data or {}).get("digest")
        if worker is not None and expected is not None and digest != expected:
            self.refuse(msg.node_id, {"name": worker.name, "host": worker.host},
                        f"worker {worker.name}: profile and mix digest {str(digest)[:12]} on the worker, "
                        f"{expected[:12]} on the master")

    # during the run
    def accepts_report(self, client_id: str) -> bool:
        """Reports are merged only from workers that joined and got a share of the plan."""
        worker = self.joined.get(client_id)
        return worker is not None and worker.planned

    def on_report(self, client_id: str) -> None:
        self.last_report_t_s[client_id] = time.time()

    def active(self) -> list[Joined]:
        return [w for w in self.joined.values() if w.planned and w.lost_t_s is None]

    def check_lost(self, now_s: float) -> None:
        """Record each worker whose reports stopped (killed, network gone) once, with its time."""
        known = {cid: t for cid, t in self.last_report_t_s.items() if cid in self.joined}
        already = [cid for cid, w in self.joined.items() if w.lost_t_s is not None]
        for client_id in join.lost(known, now_s, already):
            worker = self.joined[client_id]
            worker.lost_t_s = known[client_id]
            log.error("worker %d (%s, %s) lost: no report since %.1f s ago", worker.index, worker.name,
                      worker.host, now_s - known[client_id])
            self.writer.event("worker_lost", now_s, worker=str(worker.index), client_id=client_id,
                              name=worker.name, host=worker.host, last_report_t_s=round(known[client_id], 6))

    def wait_for(self, expected: int, max_wait_s: float) -> bool:
        """Block (gevent) until ``expected`` workers joined, at most ``max_wait_s``; True if they did.
        Logs how many joined every 5 s; on giving up, a ``workers_missing`` event names them."""
        deadline = time.monotonic() + max_wait_s
        next_log = time.monotonic()
        while len(self.joined) < expected:
            now = time.monotonic()
            if now >= deadline:
                names = [f"{w.name} ({w.host})" for w in self.joined.values()]
                self.writer.event("workers_missing", time.time(), expected=expected, joined=len(self.joined),
                                  names=names, refused=list(self.refused.values()), waited_s=round(max_wait_s, 1))
                log.error("gave up waiting for workers: %d of %d joined after %.0f s", len(self.joined), expected,
                          max_wait_s)
                return False
            if now >= next_log:
                log.info("waiting for workers: %d of %d joined", len(self.joined), expected)
                next_log = now + 5.0
            gevent.sleep(0.1)
        return True
