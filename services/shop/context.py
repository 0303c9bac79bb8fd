"""Everything a shop handler needs: settings, database, keys, knobs, caches, random sources."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from prometheus_client import Counter, Gauge

from services.config import ServiceConfig
from services.faults import ShopKnobs, shop_knobs
from services.shop.db import Database
from services.unionpay.keys import KeyMaterial
from services.web import error

# Orders not yet final may change in another worker: cache them only this long.
ORDER_CACHE_TTL_S = 0.5
CACHE_MAX_ENTRIES = 20_000
#: The caches whose lookups ``shop_cache_lookups_total{cache, result}`` counts.
CACHE_NAMES = ("product", "list", "token", "order")
CACHE_RESULTS = ("hit", "miss", "bypass")


def cache_lookup_counters(counter: Counter) -> dict[tuple[str, str], object]:
    """Every (cache, result) child of ``counter``, bound once (a labelled .inc() per lookup costs
    a dict lookup and a lock, not a label resolution) and exported at 0 from the start."""
    return {(name, result): counter.labels(name, result) for name in CACHE_NAMES for result in CACHE_RESULTS}


class ConnectionPool:
    """The ``db_connections`` knob: at most ``limit`` reads hold a connection at once (0: no
    limit), the others wait in arrival order. The limit can change while reads wait: raising it
    lets waiters in at once, lowering it lets reads already holding a connection finish."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    def resize(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _free(self) -> bool:
        return self.limit == 0 or self.in_use < self.limit

    async def acquire(self) -> None:
        """Wait for a connection (FIFO). A cancelled wait leaves the pool as it was."""
        if self._free() and not self._waiters:
            self.in_use += 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiters.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted, then cancelled before it ran
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(granted)
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._free():
            granted = self._waiters.popleft()
            if not granted.done():
                self.in_use += 1
                granted.set_result(None)


class BoundedCache(dict):
    """A dict that empties itself when it grows past ``CACHE_MAX_ENTRIES`` (a simple bound)."""

    def put(self, key, value) -> None:
        if len(self) >= CACHE_MAX_ENTRIES:
            self.clear()
        self[key] = value


@dataclass
class ShopContext:
    """Process-wide state of one shop process (a gunicorn worker has its own)."""

    config: ServiceConfig
    db: Database
    keys: KeyMaterial
    knobs: ShopKnobs
    orders_metric: Counter
    leak_metric: Gauge
    product_cache: BoundedCache = field(default_factory=BoundedCache)
    list_cache: BoundedCache = field(default_factory=BoundedCache)
    token_cache: BoundedCache = field(default_factory=BoundedCache)
    order_cache: BoundedCache = field(default_factory=BoundedCache)
    rngs: dict[str, random.Random] = field(default_factory=dict)
    cache_lookups: dict = field(default_factory=dict)  # (cache, result) -> prometheus counter child
    # Simulated database time (the db_read_latency and db_connections knobs), in seconds, for
    # shop_db_seconds_total: reads held a connection for read_s, waited for one for wait_s.
    db_read_s: float = 0.0
    db_wait_s: float = 0.0
    db_pool: ConnectionPool = field(default_factory=lambda: ConnectionPool(0))

    def __post_init__(self) -> None:
        self.db_pool.resize(self.knobs.db_connections)

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    def rng(self, family: str) -> random.Random:
        """The seeded random source of one knob family."""
        if family not in self.rngs:
            self.rngs[family] = random.Random(f"{self.config.seed}:shop:{family}")
        return self.rngs[family]

    def set_knobs(self, raw: dict) -> None:
        self.knobs = shop_knobs(raw)
        self.db_pool.resize(self.knobs.db_connections)
        if not self.knobs.cache_enabled:
            for cache in (self.product_cache, self.list_cache, self.token_cache, self.order_cache):
                cache.clear()

    def count_lookup(self, cache: str, result: str) -> None:
        """Count one lookup of ``cache`` (CACHE_NAMES) as ``hit``, ``miss`` or ``bypass``."""
        child = self.cache_lookups.get((cache, result))
        if child is not None:
            child.inc()

    def cache_get(self, cache: str, key):
        """The cached value of ``key`` in ``cache`` (None when absent or the cache is off),
        counted as a hit, a miss or a bypass (cache switched off by the ``cache_enabled`` knob)."""
        if not self.knobs.cache_enabled:
            self.count_lookup(cache, "bypass")
            return None
        value = getattr(self, f"{cache}_cache").get(key)
        self.count_lookup(cache, "miss" if value is None else "hit")
        return value

    async def db_read_delay(self) -> None:
        """The ``db_read_latency`` fault, paid once per read that goes to the database; with
        ``db_connections`` N, the read first waits for one of this process's N connections
        (a pool: reads beyond N queue), so a slower or busier database costs capacity, not
        only latency. Both times are counted in ``shop_db_seconds_total``."""
        dist = self.knobs.db_read_latency
        if dist.is_zero:
            return
        read_s = dist.sample_ms(self.rng("db")) / 1000.0
        asked = time.perf_counter()
        try:
            await self.db_pool.acquire()
        finally:
            got = time.perf_counter()
            self.db_wait_s += got - asked
        try:
            await asyncio.sleep(read_s)
        finally:
            self.db_pool.release()
            self.db_read_s += time.perf_counter() - got

    async def user_id(self, request: Request) -> str:
        """The shopper behind the bearer token; 401 naming Authorization otherwise."""
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or len(auth) > 200:
            raise error(401, "bearer token required", "Authorization")
        token = auth[7:].strip()
        cached = self.cache_get("token", token)
        if cached is not None:
            return cached
        await self.db_read_delay()
        row = self.db.one("SELECT user_id FROM sessions WHERE token = ?", (token,))
        if row is None:
            raise error(401, "unknown or expired token", "Authorization")
        if self.knobs.cache_enabled:
            self.token_cache.put(token, row[0])
        return row[0]

    def check_admin(self, request: Request) -> None:
        """403/401 unless the request carries the admin token."""
        token = request.headers.get("x-admin-token")
        auth = request.headers.get("authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if token is None:
            raise error(401, "admin token required", "X-Admin-Token")
        if not secrets.compare_digest(token.encode(), self.config.admin_token.encode()):
            raise error(403, "wrong admin token", "X-Admin-Token")

    def scaled_s(self, protocol_s: float) -> float:
        """Protocol seconds → wall-clock seconds under the time scale."""
        return protocol_s * self.config.time_scale

    @staticmethod
    def now() -> float:
        return time.time()
