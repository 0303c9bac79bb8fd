"""The shop's cache lookup counters (``shop_cache_lookups_total{cache, result}``) move with
the ``cache_enabled`` knob: hits and misses while it is on, bypasses only while it is off."""

from __future__ import annotations

import re

from tests.platform._helpers import http


def lookups(shop_url: str) -> dict[tuple[str, str], float]:
    text = http().get(f"{shop_url}/metrics").text
    found = {(m[1], m[2]): float(m[3]) for m in re.finditer(
        r'^shop_cache_lookups_total\{cache="(\w+)",result="(\w+)"\} ([0-9.e+]+)$', text, re.M)}
    assert found, "no shop_cache_lookups_total in /metrics"
    return found


def delta(after: dict, before: dict, cache: str, result: str) -> float:
    return after[(cache, result)] - before[(cache, result)]


def test_every_cache_and_result_is_exported(platform):
    found = lookups(platform.shop_url)
    assert {(c, r) for c in ("product", "list", "token", "order") for r in ("hit", "miss", "bypass")} <= set(found)


def test_cache_on_counts_a_miss_then_hits(faults, shopper):
    before = lookups(faults.shop_url)
    for _ in range(5):
        assert shopper.get("/api/products/4001").status_code == 200  # an id no other test reads
    after = lookups(faults.shop_url)
    assert delta(after, before, "product", "miss") == 1
    assert delta(after, before, "product", "hit") == 4
    assert delta(after, before, "product", "bypass") == 0
    assert shopper.get("/api/cart").status_code == 200  # the bearer token goes through the token cache
    latest = lookups(faults.shop_url)
    assert delta(latest, after, "token", "hit") + delta(latest, after, "token", "miss") == 1
    assert delta(latest, after, "token", "bypass") == 0


def test_cache_off_counts_only_bypasses(faults, shopper):
    faults.shop_faults(cache_enabled=False)
    before = lookups(faults.shop_url)
    for _ in range(5):
        assert shopper.get("/api/products/4002").status_code == 200
        assert shopper.get("/api/categories").status_code == 200
        assert shopper.get("/api/cart").status_code == 200
    after = lookups(faults.shop_url)
    for cache in ("product", "list", "token"):
        assert delta(after, before, cache, "hit") == 0
        assert delta(after, before, cache, "miss") == 0
    assert delta(after, before, "product", "bypass") == 5
    assert delta(after, before, "list", "bypass") == 5
    assert delta(after, before, "token", "bypass") == 5
