"""A gateway restarted on the same data directory remembers the payments it committed.

GIVEN a platform that took a payment
WHEN the whole platform is stopped and started again on the same data directory
THEN the gateway's settlement list and query answer still know the payment, so reconciliation
after a crash does not report every earlier payment as unknown.
"""

import shutil

import requests

from tests.platform._helpers import register_shopper, start_platform, stop_platform


def test_settlement_survives_a_restart(tmp_path):
    first = start_platform(tmp_path)
    try:
        shopper = register_shopper(first.shop_url)
        product = requests.get(f"{first.shop_url}/api/products", timeout=10).json()["items"][0]
        assert shopper.post("/api/cart/items", json={"product_id": product["id"], "qty": 1}).status_code in (200, 201)
        order = shopper.order()
        shopper.pay(order["order_id"])
        assert shopper.wait_status(order["order_id"])["status"] == "PAID"
        before = requests.get(f"{first.gateway_url}/sim/settlement", timeout=10).json()["transactions"]
    finally:
        stop_platform(first)
    assert [t["orderId"] for t in before] == [order["order_id"]]

    (tmp_path / "port.json").unlink()
    shutil.rmtree(tmp_path / "data" / "keys")  # start_platform copies the test keys in again
    second = start_platform(tmp_path)
    try:
        after = requests.get(f"{second.gateway_url}/sim/settlement", timeout=10).json()["transactions"]
    finally:
        stop_platform(second)
    assert after == before
