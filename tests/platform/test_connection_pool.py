"""The shop's simulated database connection pool (the ``db_connections`` knob), on its own."""

from __future__ import annotations

import asyncio

from services.shop.context import ConnectionPool


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def test_at_most_limit_hold_a_connection_and_waiters_go_in_order():
    async def scenario():
        pool, held, order = ConnectionPool(2), [], []

        async def read(name: str) -> None:
            await pool.acquire()
            held.append(pool.in_use)
            order.append(name)
            await asyncio.sleep(0.01)
            pool.release()

        await asyncio.gather(*(read(str(i)) for i in range(6)))
        return pool, held, order

    pool, held, order = run(scenario())
    assert max(held) == 2 and pool.in_use == 0
    assert order == [str(i) for i in range(6)]  # first come, first served


def test_raising_the_limit_lets_waiters_in_at_once_and_zero_means_no_limit():
    async def scenario():
        pool = ConnectionPool(1)
        await pool.acquire()
        waiters = [asyncio.create_task(pool.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        assert pool.in_use == 1 and not any(w.done() for w in waiters)
        pool.resize(3)
        await asyncio.sleep(0)
        assert pool.in_use == 3 and sum(w.done() for w in waiters) == 2
        pool.resize(0)
        await asyncio.sleep(0)
        assert pool.in_use == 4 and all(w.done() for w in waiters)

    run(scenario())


def test_a_cancelled_wait_leaves_the_pool_as_it_was():
    async def scenario():
        pool = ConnectionPool(1)
        await pool.acquire()
        cancelled = asyncio.create_task(pool.acquire())
        kept = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        pool.release()  # the connection goes to the next waiter still there
        await asyncio.wait_for(kept, 1)
        assert pool.in_use == 1
        # granted, then cancelled before it ran: the connection comes back
        late = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        pool.release()  # grants `late`
        late.cancel()
        await asyncio.sleep(0)
        assert late.cancelled() and pool.in_use == 0

    run(scenario())
