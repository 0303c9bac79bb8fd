"""Bad input on every route: a 4xx JSON error naming the field, never a 5xx, and the database
unchanged. Runs on its own platform (no payments in flight, so nothing else writes)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.unionpay.keys import MER_ID, load_keys
from services.unionpay.notifier import notification_fields
from services.unionpay.state import Transaction
from tests.platform._helpers import http, register_shopper


@pytest.fixture(scope="module")
def quiet(platform):
    """The session platform (healthy) with a fresh shopper, one cart line and one CREATED order;
    the database fingerprint covers that shopper's orders and every other table."""
    platform.reset_faults()
    shopper = register_shopper(platform.shop_url)
    shopper.post("/api/cart/items", json={"product_id": 4, "qty": 1})
    order = shopper.order([{"product_id": 4, "qty": 2}], key="fixed-key")
    yield platform, shopper, order
    platform.reset_faults()


def expect(response, status: int, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field, body
    assert body.get("error") or body.get("respMsg")


BIG = "x" * 70_000


# (method, path, keyword arguments for requests, status, field); {order} is the module's order.
CASES = [
    ("POST", "/api/sms/send", {"json": {}}, 422, "phone"),
    ("POST", "/api/sms/send", {"json": {"phone": 13800138000}}, 422, "phone"),
    ("POST", "/api/sms/send", {"json": {"phone": "23800138000"}}, 422, "phone"),
    ("POST", "/api/sms/send", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "body"),
    ("POST", "/api/sms/send", {"json": [1, 2]}, 422, "body"),
    ("POST", "/api/sms/send", {"json": {"phone": BIG}}, 413, "body"),
    ("GET", "/sandbox/sms/13999999999", {}, 404, "phone"),
    ("POST", "/api/users", {"json": {"phone": "13800000001", "password": "long-enough"}}, 422, "code"),
    ("POST", "/api/users", {"json": {"phone": "13800000001", "code": "12a456", "password": "long-enough"}}, 422, "code"),
    ("POST", "/api/users", {"json": {"phone": "13800000001", "code": "123456", "password": "short"}}, 422, "password"),
    ("POST", "/api/users", {"json": {"phone": "13800000001", "code": "123456", "password": "long-enough"}}, 400, "code"),
    ("POST", "/api/sessions", {"json": {"phone": "13800000001"}}, 422, "password"),
    ("POST", "/api/sessions", {"json": {"phone": "13800000001", "password": "whatever1"}}, 401, "password"),
    ("GET", "/api/products?size=0", {}, 422, "size"),
    ("GET", "/api/products?size=1000", {}, 422, "size"),
    ("GET", "/api/products?page=-1", {}, 422, "page"),
    ("GET", "/api/products?category=abc", {}, 422, "category"),
    ("GET", "/api/products?q=" + "y" * 101, {}, 422, "q"),
    ("GET", "/api/products/abc", {}, 422, "id"),
    ("GET", "/api/products/99999999999999999999", {}, 404, "id"),
    ("GET", "/api/products/-1", {}, 404, "id"),
    ("GET", "/static/img/p1-9.jpg", {}, 404, "name"),
    ("GET", "/static/img/..%2f..%2fetc%2fpasswd", {}, 404, "path"),
    ("GET", "/api/no-such-route", {}, 404, "path"),
    ("PUT", "/api/cart", {}, 405, "method"),
    ("GET", "/api/cart", {"auth": False}, 401, "Authorization"),
    ("GET", "/api/cart", {"headers": {"Authorization": "Bearer nope"}}, 401, "Authorization"),
    ("POST", "/api/cart/items", {"json": {"product_id": 1, "qty": -1}}, 422, "qty"),
    ("POST", "/api/cart/items", {"json": {"product_id": 1, "qty": "2"}}, 422, "qty"),
    ("POST", "/api/cart/items", {"json": {"product_id": 1, "qty": 100}}, 422, "qty"),
    ("POST", "/api/cart/items", {"json": {"product_id": 1, "qty": 1.5}}, 422, "qty"),
    ("POST", "/api/cart/items", {"json": {"product_id": 999999, "qty": 1}}, 404, "product_id"),
    ("POST", "/api/cart/items", {"json": {"product_id": 10**30, "qty": 1}}, 422, "product_id"),
    ("POST", "/api/cart/items", {"json": {"qty": 1}}, 422, "product_id"),
    ("PATCH", "/api/cart/items/4", {"json": {"qty": 0}}, 422, "qty"),
    ("PATCH", "/api/cart/items/x", {"json": {"qty": 1}}, 422, "product_id"),
    ("PATCH", "/api/cart/items/5", {"json": {"qty": 1}}, 404, "product_id"),
    ("DELETE", "/api/cart/items/abc", {}, 422, "product_id"),
    ("DELETE", "/api/cart/items/5", {}, 404, "product_id"),
    ("POST", "/api/orders", {"json": {}}, 400, "Idempotency-Key"),
    ("POST", "/api/orders", {"json": {}, "headers": {"Idempotency-Key": "has space"}}, 400, "Idempotency-Key"),
    ("POST", "/api/orders", {"json": {"items": []}, "key": True}, 422, "items"),
    ("POST", "/api/orders", {"json": {"items": [{"product_id": 1, "qty": 0}]}, "key": True}, 422, "qty"),
    ("POST", "/api/orders", {"json": {"items": [{"product_id": 99999, "qty": 1}]}, "key": True}, 404, "product_id"),
    ("POST", "/api/orders", {"json": [1], "key": True}, 400, "body"),
    ("POST", "/api/orders", {"data": b"{", "key": True}, 400, "body"),
    ("POST", "/api/orders", {"json": {"items": [{"product_id": 4, "qty": 1}]},
                             "headers": {"Idempotency-Key": "fixed-key"}}, 422, "Idempotency-Key"),
    ("POST", "/api/orders/SO0000000000000000/payment", {}, 404, "id"),
    ("POST", "/api/orders/{order}/payment", {"json": {"channel_type": "99"}}, 422, "channel_type"),
    ("POST", "/api/orders/{order}/payment", {"json": "07"}, 400, "body"),
    ("GET", "/api/orders/nope", {}, 404, "id"),
    ("POST", "/api/payments/unionpay/notify", {"data": {"orderId": "X"}, "auth": False}, 422, "signMethod"),
    ("GET", "/admin/orders/export", {"auth": False}, 401, "X-Admin-Token"),
    ("POST", "/admin/faults", {"json": {"cache_enabled": "no"}, "admin": True}, 422, "cache_enabled"),
    ("POST", "/admin/faults", {"json": {"no_such_knob": 1}, "admin": True}, 422, "no_such_knob"),
    ("POST", "/admin/faults", {"json": {"latency": {"GET /api/cart": {"kind": "weird"}}}, "admin": True},
     422, "latency.GET /api/cart.kind"),
    ("POST", "/admin/faults", {"json": {"error_rate": {"*": 2}}, "admin": True}, 422, "error_rate.*"),
    ("POST", "/admin/faults", {"json": {"leak_bytes_per_request": -5}, "admin": True}, 422, "leak_bytes_per_request"),
    ("POST", "/admin/faults", {"json": {"preset": "nope"}, "admin": True}, 422, "preset"),
    ("POST", "/admin/faults", {"json": ["x"], "admin": True}, 400, "body"),
]


def send(platform, shopper, method, path, kw):
    kw = dict(kw)
    headers = dict(kw.pop("headers", {}))
    if kw.pop("auth", True) and "Authorization" not in headers:
        headers["Authorization"] = shopper.session.headers["Authorization"]
    if kw.pop("key", False):
        headers["Idempotency-Key"] = f"k{time.time_ns()}"
    if kw.pop("admin", False):
        headers["X-Admin-Token"] = platform.admin_token
    return http().request(method, platform.shop_url + path, headers=headers, timeout=15, **kw)


@pytest.mark.parametrize(("method", "path", "kw", "status", "field"), CASES,
                         ids=[f"{c[0]} {c[1][:40]} {c[4]}" for c in CASES])
def test_bad_input_is_4xx_naming_the_field_and_changes_nothing(quiet, method, path, kw, status, field):
    platform, shopper, order = quiet
    before = platform.db_fingerprint(shopper.user_id)
    response = send(platform, shopper, method, path.replace("{order}", order["order_id"]), kw)
    expect(response, status, field)
    assert platform.db_fingerprint(shopper.user_id) == before


def test_bad_notifications_change_nothing(quiet):
    platform, shopper, order = quiet
    keys = load_keys(platform.data_dir / "keys")
    txn = Transaction(order_id=order["order_id"], txn_time="20260101000000", txn_amt=str(order["amount_fen"]),
                      back_url="", req_reserved="", sign_method="11", pay_deadline_t_s=None,
                      query_id="123456789012345678901", commit_t_s=time.time(), trace_no="678901")
    good = notification_fields(txn, keys)
    url = f"{platform.shop_url}/api/payments/unionpay/notify"
    before = platform.db_fingerprint(shopper.user_id)
    expect(http().post(url, data={**good, "signature": "0" * 64}), 400, "signature")
    expect(http().post(url, data={**good, "orderId": "SO1111111111111111"}), 400, "signature")
    unknown = notification_fields(Transaction(**{**txn.__dict__, "order_id": "SO2222222222222222"}), keys)
    expect(http().post(url, data=unknown), 404, "orderId")
    tampered = notification_fields(txn, keys, tamper_amount=True)
    expect(http().post(url, data=tampered), 400, "txnAmt")
    wrong_mer = {**good, "merId": "123"}
    wrong_mer.pop("signature")
    from services.unionpay.protocol import sign_as_gateway

    expect(http().post(url, data=sign_as_gateway(wrong_mer, keys)), 400, "merId")
    assert platform.db_fingerprint(shopper.user_id) == before
    assert MER_ID != "123"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["phone", "code", "password", "product_id", "qty", "items", "channel_type",
                               "txn_token", "cache_enabled", "preset", "latency"])
bodies = st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=4))
ROUTES = [("POST", "/api/sms/send"), ("POST", "/api/users"), ("POST", "/api/sessions"),
          ("POST", "/api/cart/items"), ("PATCH", "/api/cart/items/4"), ("POST", "/api/orders"),
          ("POST", "/api/orders/{order}/payment"), ("POST", "/api/payments/unionpay/notify"),
          ("POST", "/admin/faults")]
path_parts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/?#"),
                     min_size=1, max_size=30)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies, raw=st.binary(max_size=200), use_raw=st.booleans())
def test_random_bodies_never_yield_5xx(quiet, route, body, raw, use_raw):
    platform, shopper, order = quiet
    method, path = route
    kw = {"data": raw} if use_raw else {"data": json.dumps(body, allow_nan=True)}
    # The right admin token: random knob updates are validated (field names drawn here cannot
    # switch on a harmful fault).
    kw["headers"] = {"Content-Type": "application/json", "Idempotency-Key": "prop-key",
                     "X-Admin-Token": platform.admin_token}
    response = send(platform, shopper, method, path.replace("{order}", order["order_id"]), kw)
    assert response.status_code < 500, response.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=path_parts, query=st.dictionaries(st.sampled_from(["category", "q", "page", "size"]),
                                                  st.text(max_size=20), max_size=4))
def test_random_paths_and_queries_never_yield_5xx(quiet, segment, query):
    platform, shopper, _ = quiet
    for path in (f"/api/products/{segment}", f"/static/img/{segment}", f"/api/orders/{segment}",
                 f"/sandbox/sms/{segment}", "/api/products"):
        response = send(platform, shopper, "GET", path, {"params": query})
        assert response.status_code < 500, (path, response.text)
