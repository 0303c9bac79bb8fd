"""A benchmark that can be slowed on purpose, to show the gate catches a 30% slowdown and not noise.

Not collected by the test suite (the file name does not start with ``test_``); run it by path:

    BENCH_SLOWDOWN=1.3 pytest tests/compare/bench_demo/bench_slowable.py -p no:cacheprovider \\
        --benchmark-only --benchmark-save-data --benchmark-json=/tmp/slow.json

``BENCH_SLOWDOWN`` multiplies the work of ``price_cart`` (default 1.0); ``sign_payload`` is
never slowed, so it shows what noise alone does.
"""

import hashlib
import os

WORK_FACTOR = float(os.environ.get("BENCH_SLOWDOWN", "1.0"))
LINES = [(f"sku-{i}", 1 + i % 5, 1999 + 37 * i) for i in range(200)]


def price_cart(lines, repeat: int) -> int:
    """Total in fen of a cart, computed ``repeat`` times (the knob for a deliberate slowdown)."""
    total = 0
    for _ in range(repeat):
        total = sum(qty * price_fen for _, qty, price_fen in lines)
    return total


def sign_payload(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def test_price_cart(benchmark):
    repeat = round(10 * WORK_FACTOR)
    assert benchmark(price_cart, LINES, repeat) == sum(q * p for _, q, p in LINES)


def test_sign_payload(benchmark):
    assert len(benchmark(sign_payload, b"x" * 4096)) == 64
