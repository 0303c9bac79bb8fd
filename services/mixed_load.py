"""A short mixed browse-cart-pay load against a running platform, to measure one shop
process's throughput: ``python -m services.mixed_load --port-file PATH [--threads 8]
[--requests 10000] [--max-s 120]``. Prints shop requests/s, errors and the shop's RSS.

Each thread registers once, then repeats a visit: categories, a list page, a search, three
product details with one image each, two cart adds, an order, the payment form, the gateway
front request and confirm, then polls the order until PAID. Bounded by request count and time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import threading
import time
import uuid
from pathlib import Path

import requests


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.shop = self.gateway = self.errors = self.visits = 0


def visit_loop(shop: str, gateway: str, counter: Counter, budget: int, stop_at: float, seed: int) -> None:
    rng = random.Random(seed)
    s = requests.Session()
    s.trust_env = False

    def call(method: str, url: str, is_shop: bool = True, **kw):
        r = s.request(method, url, timeout=30, **kw)
        with counter.lock:
            if is_shop:
                counter.shop += 1
            else:
                counter.gateway += 1
            if r.status_code >= 400:
                counter.errors += 1
        return r

    phone = f"15{random.SystemRandom().randrange(10**9):09d}"  # unique across runs
    call("POST", f"{shop}/api/sms/send", json={"phone": phone})
    code = call("GET", f"{shop}/sandbox/sms/{phone}").json()["code"]
    token = call("POST", f"{shop}/api/users", json={"phone": phone, "code": code, "password": "load-pass-1"}).json()["token"]
    s.headers["Authorization"] = f"Bearer {token}"
    while counter.shop < budget and time.monotonic() < stop_at:
        call("GET", f"{shop}/api/categories")
        items = call("GET", f"{shop}/api/products", params={"category": rng.randrange(1, 21)}).json()["items"]
        call("GET", f"{shop}/api/products", params={"q": rng.choice(["organic", "smart", "pro", "set"])})
        for item in rng.sample(items, 3):
            detail = call("GET", f"{shop}/api/products/{item['id']}").json()
            call("GET", f"{shop}{detail['image_urls'][0]}")
        for item in items[:2]:
            call("POST", f"{shop}/api/cart/items", json={"product_id": item["id"], "qty": 1})
        order = call("POST", f"{shop}/api/orders", json={}, headers={"Idempotency-Key": uuid.uuid4().hex}).json()
        form = call("POST", f"{shop}/api/orders/{order['order_id']}/payment").json()
        txn = call("POST", form["gateway_url"], False, data=form["fields"], headers={"Accept": "application/json"}).json()
        call("POST", f"{gateway}/gateway/cashier/confirm", False, json={"txn_token": txn["txn_token"]})
        for _ in range(50):
            if call("GET", f"{shop}/api/orders/{order['order_id']}").json()["status"] in ("PAID", "FAILED"):
                break
            time.sleep(0.05)
        with counter.lock:
            counter.visits += 1
    s.close()


def shop_rss_bytes(shop: str) -> float:
    text = requests.get(f"{shop}/metrics", timeout=10).text
    return float(re.search(r"^process_resident_memory_bytes (\S+)$", text, re.M).group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.mixed_load")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=10_000, help="stop after this many shop requests")
    parser.add_argument("--max-s", type=float, default=120.0, help="stop after this many seconds")
    args = parser.parse_args(argv)
    info = json.loads(args.port_file.read_text())
    counter = Counter()
    rss_before = shop_rss_bytes(info["shop_url"])
    started = time.monotonic()
    threads = [threading.Thread(target=visit_loop, args=(info["shop_url"], info["gateway_url"], counter,
                                                          args.requests, started + args.max_s, i))
               for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    rss_after = shop_rss_bytes(info["shop_url"])
    print(json.dumps({"elapsed_s": round(elapsed, 2), "shop_requests": counter.shop,
                      "gateway_requests": counter.gateway, "visits": counter.visits, "errors": counter.errors,
                      "shop_requests_per_s": round(counter.shop / elapsed, 1),
                      "shop_rss_before_bytes": rss_before, "shop_rss_after_bytes": rss_after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
