"""One visit (one arrival of the open model) and the journeys inside it, as recorded units.

A :class:`Visit` holds what its journeys share: the client, the random source, the clock, the
sink that records journey rows and journal entries, the shopper's session token. Each journey
runs inside ``with visit.journey(name) as journey:``, which times it and records one
journeys.csv row, whatever happens. A failed request raises :class:`JourneyFailed`, which ends
the journey (outcome ``failed``) and the visit.

Intended start of a journey inside a visit: its actual start shifted by the visit's own wait to
start (actual - intended arrival), so ``from_intended_ms`` of every journey carries the
coordinated-omission delay of its visit and nothing else.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from scenarios.client import Call, Reply, ShopClient, Tags


class Sink(Protocol):
    """Where journey rows and journal entries go (loadtests.records.Recorder is one)."""

    def journey(
        self, journey_id: str, visit_id: str, name: str, stage: str, in_ramp: bool, intended_t_s: float,
        start_t_s: float | None, end_t_s: float | None, ok: bool, outcome: str, flags: Iterable[str] = (),
        sync_lag_ms: float | None = None,
    ) -> None: ...  # fmt: skip

    def journal(self, entry: dict[str, Any]) -> None: ...


class JourneyFailed(Exception):
    """A request of the journey failed (or its answer made no sense): the journey and visit end."""

    def __init__(self, call: Call, reply: Reply) -> None:
        super().__init__(f"{call.name}: {reply.error_kind}: {reply.detail}")
        self.call, self.reply = call, reply


@dataclass
class Account:
    """A registered shopper: phone and password (the token is per visit)."""

    phone: str
    password: str


class AccountBook:
    """Registered accounts of this process, lent to one visit at a time (carts are per account)."""

    def __init__(self) -> None:
        self._idle: list[Account] = []
        self._lock = threading.Lock()

    def borrow(self, rng: random.Random) -> Account | None:
        """Take a random idle account out of the book, or None when there is none."""
        with self._lock:
            if not self._idle:
                return None
            return self._idle.pop(rng.randrange(len(self._idle)))

    def give_back(self, account: Account) -> None:
        """Return an account (or add a new one) for later visits."""
        with self._lock:
            self._idle.append(account)

    def __len__(self) -> int:
        return len(self._idle)


_counter = itertools.count(1)


@dataclass
class Journey:
    """A running journey: send its requests, set its outcome and flags."""

    visit: Visit
    name: str
    journey_id: str
    tags: Tags
    outcome: str = "ok"
    ok: bool = True
    flags: list[str] = field(default_factory=list)
    sync_lag_ms: float | None = None

    def send(self, call: Call) -> Reply:
        """Send ``call``; raise JourneyFailed unless it succeeded."""
        reply = self.visit.client.send(call, self.tags)
        if not reply.ok:
            raise JourneyFailed(call, reply)
        return reply

    def try_send(self, call: Call) -> Reply:
        """Send ``call`` and return the reply, failed or not (the caller decides)."""
        return self.visit.client.send(call, self.tags)

    def send_all(self, calls: list[Call]) -> list[Reply]:
        """Send calls concurrently (a page's images); raise JourneyFailed on the first failure."""
        replies = self.visit.client.send_all(calls, self.tags)
        for call, reply in zip(calls, replies, strict=True):
            if not reply.ok:
                raise JourneyFailed(call, reply)
        return replies

    def journal(self, kind: str, **fields: Any) -> None:
        """Append a client-journal entry for this journey."""
        self.visit.sink.journal({"t_s": round(self.visit.clock(), 6), "kind": kind, "journey_id": self.journey_id,
                                 **fields})  # fmt: skip


@dataclass
class Visit:
    """The shared state of one visit (one arrival)."""

    client: ShopClient
    sink: Sink
    rng: random.Random
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    visit_id: str
    stage: str
    in_ramp: bool
    intended_t_s: float
    accounts: AccountBook
    time_scale: float = 1.0
    journey_timeout_s: float = 60.0
    start_t_s: float = 0.0
    token: str | None = None
    account: Account | None = None
    product_ids: list[int] = field(default_factory=list)
    search_words: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.start_t_s = self.start_t_s or self.clock()

    def auth(self) -> dict[str, str]:
        """The Authorization header of the logged-in shopper."""
        return {"Authorization": f"Bearer {self.token}"}

    def new_id(self) -> str:
        """A journey id unique in this run (the visit id plus a counter)."""
        return f"{self.visit_id}.{next(_counter)}"

    @contextmanager
    def journey(self, name: str) -> Iterator[Journey]:
        """Run one journey: time it, record its row (even when it fails), re-raise failures."""
        journey_id = self.new_id()
        journey = Journey(self, name, journey_id, Tags(journey_id, self.stage, self.in_ramp))
        start_t_s = self.clock()
        try:
            yield journey
        except BaseException:  # a failed request, or the user stopped mid-journey: never "ok"
            journey.ok, journey.outcome = False, "failed"
            raise
        finally:
            end_t_s = self.clock()
            lag_s = self.start_t_s - self.intended_t_s
            self.sink.journey(
                journey_id, self.visit_id, name, self.stage, self.in_ramp, start_t_s - lag_s, start_t_s,
                end_t_s, journey.ok, journey.outcome, journey.flags, journey.sync_lag_ms,
            )  # fmt: skip
