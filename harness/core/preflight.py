"""The pre-flight: what a run will hit and how hard, printed before any load. Pure: plain figures
in, lines out.

Requests per visit are *estimated from the traffic mix* (scenarios/mix.toml) with the journeys'
request counts below (scenarios/journeys.py; the reference catalogue has 2-4 images per product,
3 on average). It is an estimate for the order of magnitude, not a measurement: the run's
progress lines and results show the measured requests/s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

IMAGES_PER_PRODUCT = 3.0  # services/shop/catalogue.py: randrange(2, 5)
REGISTER_REQUESTS = 4.0  # SMS send, read the code, create the user, log in
CART_REQUESTS_PER_ITEM = 1.0  # POST /api/cart/items
CART_FIXED_REQUESTS = 2.0  # GET /api/cart, PATCH one line
CHECKOUT_REQUESTS = 5.0  # order, payment, order polls (about three)


def requests_per_visit(mix: Mapping[str, float]) -> float:
    """Expected requests of one visit under ``mix`` (the [mix] table's numbers)."""
    products = (mix.get("products_min", 2) + mix.get("products_max", 5)) / 2.0
    browse = mix.get("category_share", 0.5) + 2.0 + products * (1.0 + IMAGES_PER_PRODUCT)
    items = (mix.get("cart_items_min", 1) + mix.get("cart_items_max", 3)) / 2.0
    register = REGISTER_REQUESTS + mix.get("sms_reentry_share", 0.0)
    cart = CART_FIXED_REQUESTS + items * CART_REQUESTS_PER_ITEM + mix.get("cart_remove_share", 0.0)
    checkout = mix.get("checkout_share_of_carts", 0.0) * CHECKOUT_REQUESTS
    cart_share = mix.get("cart_share", 0.0)
    return browse + mix.get("register_share", 0.0) * register + cart_share * (cart + checkout)


def preflight_lines(*, url: str, addresses: Sequence[str], tls: str, stages: Sequence[Mapping],
                    total_s: float, drain_s: float, requests_per_journey: float | None, estimate_source: str,
                    max_requests_per_s: float | None, abort: Mapping | None, workers: int) -> list[str]:
    """The pre-flight block: target, addresses, TLS, stages, duration, peak rates, ceiling, abort."""
    peak = max((float(s["journeys_per_s"]) for s in stages), default=0.0)
    lines = [f"pre-flight: {url}",
             f"  resolved addresses: {', '.join(addresses) if addresses else 'the embedded platform (loopback)'}",
             f"  TLS verification: {tls}"]
    for stage in stages:
        lines.append(f"  stage {stage['name']}: {float(stage['journeys_per_s']):g} journeys/s for "
                     f"{float(stage['duration_s']):g} s (ramp {float(stage.get('ramp_s', 0)):g} s)")
    lines.append(f"  total: {total_s:g} s of load, then up to {drain_s:g} s for the visits in flight; "
                 f"generators: {'one process' if workers == 0 else f'{workers} workers'}")
    if requests_per_journey is None:
        lines.append(f"  peak: {peak:g} journeys/s; requests/s not estimated ({estimate_source})")
    else:
        lines.append(f"  peak: {peak:g} journeys/s, about {peak * requests_per_journey:.0f} requests/s expected "
                     f"({requests_per_journey:.1f} requests per journey, {estimate_source})")
    if max_requests_per_s is not None:
        lines.append(f"  ceiling: at most {max_requests_per_s:g} requests/s in total (max_requests_per_s)")
    lines.append("  abort: " + (", ".join(f"{k} {v}" for k, v in abort.items()) if abort else "none"))
    return lines
