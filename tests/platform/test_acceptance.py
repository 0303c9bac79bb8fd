"""Acceptance point 3: 2,000 payments with a 17% gateway timeout rate (half after commit) and
duplicated notifications, driven by a threaded client on a platform of its own (fixed seed).

Timeouts fall in the binomial 99% interval (and equal, exactly, what the seeded random source
dictates); duplicated notifications never pay an order twice; the shop's export and the
gateway's settlement list agree."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from urllib.parse import urlencode, urlsplit

import pytest
from scipy.stats import binom

from tests.platform._helpers import new_session, register_shopper, start_platform, stop_platform

PAYMENTS = 2000
THREADS = 8
TIMEOUT_RATE = 0.17
SEED = 2026


@pytest.fixture(scope="module")
def acceptance_platform(tmp_path_factory):
    running = start_platform(tmp_path_factory.mktemp("acceptance"), seed=SEED)
    yield running
    assert stop_platform(running) == 0


class KeepAlive:
    """A minimal keep-alive HTTP/1.1 client (http.client): far less client CPU than requests,
    so the 2,000 payments spend their time in the platform."""

    def __init__(self, base_url: str):
        self.conn = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=30)

    def call(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())

    def close(self) -> None:
        self.conn.close()


def pay_many(platform, count: int, results: list, errors: list) -> None:
    """One client thread: its own shopper; order → form → front request → confirm, ``count`` times."""
    shop, gateway = KeepAlive(platform.shop_url), KeepAlive(platform.gateway_url)
    try:
        shopper = register_shopper(platform.shop_url)
        auth = {"Authorization": shopper.session.headers["Authorization"], "Content-Type": "application/json"}
        for i in range(count):
            product_id = 1 + (i * 7919 + len(results)) % 5000
            body = json.dumps({"items": [{"product_id": product_id, "qty": 1 + i % 3}]}).encode()
            status, order = shop.call("POST", "/api/orders", body, {**auth, "Idempotency-Key": uuid.uuid4().hex})
            assert status == 201, order
            status, form = shop.call("POST", f"/api/orders/{order['order_id']}/payment", b"", auth)
            assert status == 200, form
            status, front = gateway.call("POST", "/gateway/api/frontTransReq.do", urlencode(form["fields"]).encode(),
                                         {"Accept": "application/json",
                                          "Content-Type": "application/x-www-form-urlencoded"})
            assert status == 200, front
            status, confirm = gateway.call("POST", "/gateway/cashier/confirm",
                                           json.dumps({"txn_token": front["txn_token"]}).encode(),
                                           {"Content-Type": "application/json"})
            results.append((order, status, confirm))
    except Exception as error:  # surfaced by the test
        errors.append(error)
    finally:
        shop.close()
        gateway.close()


@pytest.mark.slow
def test_2000_payments_with_timeouts_and_duplicates(acceptance_platform):
    platform = acceptance_platform
    platform.gateway_faults(timeout_rate_before_commit=TIMEOUT_RATE / 2, timeout_rate_after_commit=TIMEOUT_RATE / 2,
                            timeout_hold_s=0.02, notify={"duplicate_rate": 0.3})
    results: list = []
    errors: list = []
    threads = [threading.Thread(target=pay_many, args=(platform, PAYMENTS // THREADS, results, errors))
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    assert len(results) == PAYMENTS

    # Timeouts: in the binomial 99% interval, and exactly what the seeded source dictates.
    timeouts = [r for r in results if r[1] == 504]
    low, high = binom.interval(0.99, PAYMENTS, TIMEOUT_RATE)
    assert low <= len(timeouts) <= high
    rng = random.Random(f"{SEED}:gateway:timeout")
    assert len(timeouts) == sum(rng.random() < TIMEOUT_RATE for _ in range(PAYMENTS))
    stats = platform.gateway_stats()
    assert stats["timeouts_before_commit"] + stats["timeouts_after_commit"] == len(timeouts)
    assert stats["notify_duplicated"] > 0

    # Every committed payment settles in the shop (notifications are immediate).
    committed = stats["commits"]
    deadline = time.monotonic() + 60
    while True:
        export = platform.export()
        paid = {oid: o for oid, o in export.items() if o["status"] == "PAID"}
        if len(paid) >= committed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    settlement = {t["orderId"]: t for t in
                  new_session().get(f"{platform.gateway_url}/sim/settlement", timeout=30).json()["transactions"]}
    assert len(settlement) == committed == PAYMENTS - stats["timeouts_before_commit"]
    # The export and the settlement agree: same orders, amounts and queryIds; one payment each.
    assert set(paid) == set(settlement)
    for order_id, order in paid.items():
        assert str(order["amount_fen"]) == settlement[order_id]["txnAmt"]
        assert order["query_id"] == settlement[order_id]["queryId"]
        assert len(order["payments"]) == 1, order
    assert sum(o["notify_count"] > 1 for o in paid.values()) > 0  # duplicates did arrive
    for order, status, body in results:
        if status == 200:
            assert paid[order["order_id"]]["query_id"] == body["queryId"]
        elif order["order_id"] not in settlement:  # timed out before commit: nothing was paid
            assert export[order["order_id"]]["status"] in ("PAYING", "FAILED")
