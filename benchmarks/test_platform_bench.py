"""Platform micro-benchmarks (pytest-benchmark, in process with FastAPI's TestClient):
product detail, search, cart add, order create, and both signature methods."""

from __future__ import annotations

import itertools
import uuid
import warnings

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.config import ServiceConfig
from services.faults import preset_knobs
from services.shop.app import create_app
from services.unionpay.keys import MER_ID
from services.unionpay.signature import sign_rsa, sign_sha256, verify_rsa, verify_sha256

with warnings.catch_warnings():
    # starlette asks for `httpx2` for its TestClient; the plain httpx one works the same here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FIELDS = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": "11", "txnType": "01", "txnSubType": "01",
          "bizType": "000201", "channelType": "07", "accessType": "0", "merId": MER_ID, "orderId": "SO0123456789ABCDEF",
          "txnTime": "20261128120000", "txnAmt": "12345", "currencyCode": "156",
          "frontUrl": "http://127.0.0.1:8000/api/orders/SO0123456789ABCDEF",
          "backUrl": "http://127.0.0.1:8000/api/payments/unionpay/notify", "payTimeout": "20261128121500",
          "reqReserved": "U0123456789abcdef"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A shop app (healthy, cache on) with a registered shopper; (client, auth headers)."""
    data_dir = tmp_path_factory.mktemp("bench-shop")
    shop_faults, gateway_faults = preset_knobs("healthy")
    config = ServiceConfig(shop_url="http://127.0.0.1:9", gateway_url="http://127.0.0.1:9", data_dir=str(data_dir),
                           admin_token="bench-admin-token", shop_faults=shop_faults, gateway_faults=gateway_faults)
    with TestClient(create_app(config)) as client:
        client.post("/api/sms/send", json={"phone": "13700000000"})
        code = client.get("/sandbox/sms/13700000000").json()["code"]
        token = client.post("/api/users", json={"phone": "13700000000", "code": code,
                                                "password": "bench-password"}).json()["token"]
        yield client, {"Authorization": f"Bearer {token}"}


def test_product_detail(benchmark, shop):
    client, _ = shop
    ids = itertools.cycle(range(1, 201))
    response = benchmark(lambda: client.get(f"/api/products/{next(ids)}"))
    assert response.status_code == 200


def test_search(benchmark, shop):
    client, _ = shop
    words = itertools.cycle(["organic", "smart", "pro", "set", "kit", "eco"])
    pages = itertools.cycle(range(1, 30))
    response = benchmark(lambda: client.get("/api/products", params={"q": next(words), "page": next(pages)}))
    assert response.status_code == 200


def test_cart_add(benchmark, shop):
    client, auth = shop
    ids = itertools.cycle(range(1, 50))
    response = benchmark(lambda: client.post("/api/cart/items", json={"product_id": next(ids), "qty": 1}, headers=auth))
    assert response.status_code == 200


def test_order_create(benchmark, shop):
    client, auth = shop
    body = {"items": [{"product_id": 3, "qty": 2}, {"product_id": 11, "qty": 1}]}
    response = benchmark(lambda: client.post("/api/orders", json=body,
                                             headers={**auth, "Idempotency-Key": uuid.uuid4().hex}))
    assert response.status_code == 201


def test_sign_sha256(benchmark):
    signature = benchmark(sign_sha256, FIELDS, "0123456789abcdef0123456789abcdef")
    assert verify_sha256({**FIELDS, "signature": signature}, "0123456789abcdef0123456789abcdef")


def test_verify_sha256(benchmark):
    signed = {**FIELDS, "signature": sign_sha256(FIELDS, "k" * 32)}
    assert benchmark(verify_sha256, signed, "k" * 32)


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_sign_rsa(benchmark, rsa_key):
    signature = benchmark(sign_rsa, {**FIELDS, "signMethod": "01"}, rsa_key)
    assert verify_rsa({**FIELDS, "signMethod": "01", "signature": signature}, rsa_key.public_key())


def test_verify_rsa(benchmark, rsa_key):
    fields = {**FIELDS, "signMethod": "01"}
    signed = {**fields, "signature": sign_rsa(fields, rsa_key)}
    assert benchmark(verify_rsa, signed, rsa_key.public_key())
