"""A scripted shopper: register (SMS code from the sandbox), browse, fill a cart, order, pay
through the gateway, and poll until the order is PAID.

Usage: python -m services.demo_client --port-file PATH   (prints each step; exit 0 when PAID)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from pathlib import Path

import requests


class JourneyError(RuntimeError):
    """A step of the journey answered something unexpected."""


def _check(response: requests.Response, status: int, step: str) -> dict:
    if response.status_code != status:
        raise JourneyError(f"{step}: expected HTTP {status}, got {response.status_code}: {response.text[:300]}")
    return response.json() if "json" in response.headers.get("content-type", "") else {}


def checkout_journey(shop_url: str, seed: int = 0, poll_timeout_s: float = 60.0, log=print) -> dict:
    """Run one full journey against ``shop_url``; returns the final order (status PAID).

    Raises JourneyError naming the step that failed."""
    with requests.Session() as s:
        return _journey(s, shop_url, random.Random(seed), poll_timeout_s, log)


def _journey(s: requests.Session, shop_url: str, rng: random.Random, poll_timeout_s: float, log) -> dict:
    s.trust_env = False
    phone = "1" + "".join(str(rng.randrange(10)) for _ in range(10))
    _check(s.post(f"{shop_url}/api/sms/send", json={"phone": phone}, timeout=10), 202, "sms send")
    code = _check(s.get(f"{shop_url}/sandbox/sms/{phone}", timeout=10), 200, "sandbox")["code"]
    user = _check(s.post(f"{shop_url}/api/users", json={"phone": phone, "code": code, "password": "correct horse"},
                         timeout=10), 201, "register")
    log(f"registered {phone} as {user['user_id']}")
    token = _check(s.post(f"{shop_url}/api/sessions", json={"phone": phone, "password": "correct horse"},
                          timeout=10), 200, "login")["token"]
    s.headers["Authorization"] = f"Bearer {token}"
    categories = _check(s.get(f"{shop_url}/api/categories", timeout=10), 200, "categories")["items"]
    listing = _check(s.get(f"{shop_url}/api/products", params={"category": categories[0]["id"], "size": 10},
                           timeout=10), 200, "list")["items"]
    _check(s.get(f"{shop_url}/api/products", params={"q": "organic"}, timeout=10), 200, "search")
    for item in listing[:2]:
        detail = _check(s.get(f"{shop_url}/api/products/{item['id']}", timeout=10), 200, "detail")
        for url in detail["image_urls"][:1]:
            image = s.get(f"{shop_url}{url}", timeout=10)
            if image.status_code != 200 or len(image.content) < 20_000:
                raise JourneyError(f"image {url}: status {image.status_code}, {len(image.content)} bytes")
        _check(s.post(f"{shop_url}/api/cart/items", json={"product_id": item["id"], "qty": 1}, timeout=10),
               200, "cart add")
    cart = _check(s.patch(f"{shop_url}/api/cart/items/{listing[0]['id']}", json={"qty": 2}, timeout=10),
                  200, "cart change")
    log(f"cart: {len(cart['items'])} lines, {cart['total_fen']} fen")
    order = _check(s.post(f"{shop_url}/api/orders", json={}, headers={"Idempotency-Key": uuid.uuid4().hex},
                          timeout=10), 201, "order")
    log(f"order {order['order_id']}: {order['amount_fen']} fen, {order['status']}")
    form = _check(s.post(f"{shop_url}/api/orders/{order['order_id']}/payment", timeout=10), 200, "payment form")
    front = _check(s.post(form["gateway_url"], data=form["fields"], headers={"Accept": "application/json"},
                                 timeout=10), 200, "gateway front request")
    gateway_base = form["gateway_url"].split("/gateway/")[0]
    for attempt in range(3):  # a 504 may come before or after commit: confirming again is safe
        confirm = s.post(f"{gateway_base}/gateway/cashier/confirm", json={"txn_token": front["txn_token"]},
                                timeout=10)
        if confirm.status_code != 504:
            break
        log(f"confirm attempt {attempt + 1}: gateway timeout, retrying")
    log(f"gateway confirm: HTTP {confirm.status_code} {confirm.text[:120]}")
    deadline, delay = time.monotonic() + poll_timeout_s, 0.05
    while True:
        status = _check(s.get(f"{shop_url}/api/orders/{order['order_id']}", timeout=10), 200, "order status")
        if status["status"] in ("PAID", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    log(f"order {status['order_id']} is {status['status']}")
    if status["status"] != "PAID":
        raise JourneyError(f"order ended {status['status']}, expected PAID")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.demo_client")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shop_url = json.loads(args.port_file.read_text())["shop_url"]
    try:
        checkout_journey(shop_url, seed=args.seed)
    except (JourneyError, requests.RequestException) as error:
        print(f"journey failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
