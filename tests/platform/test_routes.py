"""Every shop route over HTTP against a real `harness shop`, and the scripted journey
(acceptance 2: register → browse → cart → order → pay → PAID)."""

from __future__ import annotations

import uuid

from services.demo_client import checkout_journey
from tests.platform._helpers import http, new_phone


def test_health_and_metrics_name_routes_and_rss(platform, shopper):
    s = http()
    assert s.get(f"{platform.shop_url}/healthz").json() == {"status": "ok", "role": "shop"}
    assert s.get(f"{platform.gateway_url}/healthz").json() == {"status": "ok", "role": "gateway"}
    shopper.get("/api/products/3")
    text = s.get(f"{platform.shop_url}/metrics").text
    assert 'shop_http_request_duration_seconds_bucket{le="0.001",route="GET /api/products/[id]"}' in text
    assert "process_resident_memory_bytes" in text
    assert "gateway_http_request_duration_seconds" in s.get(f"{platform.gateway_url}/metrics").text


def test_scripted_journey_ends_paid(platform):
    lines = []
    order = checkout_journey(platform.shop_url, seed=11, log=lines.append)
    assert order["status"] == "PAID" and order["query_id"]
    exported = platform.export()[order["order_id"]]
    assert exported["status"] == "PAID"
    assert [p["amount_fen"] for p in exported["payments"]] == [order["amount_fen"]]
    settled = {t["orderId"]: t for t in http().get(f"{platform.gateway_url}/sim/settlement").json()["transactions"]}
    assert settled[order["order_id"]]["txnAmt"] == str(order["amount_fen"])
    assert settled[order["order_id"]]["queryId"] == order["query_id"]


def test_sms_register_login(platform):
    s, phone = http(), new_phone()
    sent = s.post(f"{platform.shop_url}/api/sms/send", json={"phone": phone})
    assert sent.status_code == 202 and sent.json()["expires_in_s"] == 300
    again = s.post(f"{platform.shop_url}/api/sms/send", json={"phone": phone})
    assert again.status_code == 429 and again.json()["field"] == "phone" and again.json()["retry_after_s"] > 0
    outbox = s.get(f"{platform.shop_url}/sandbox/sms/{phone}").json()
    assert len(outbox["code"]) == 6 and outbox["tries_left"] == 3
    wrong = "000000" if outbox["code"] != "000000" else "111111"
    body = {"phone": phone, "code": wrong, "password": "a-good-password"}
    first = s.post(f"{platform.shop_url}/api/users", json=body)
    assert first.status_code == 400 and first.json() == {"error": "wrong code", "field": "code", "tries_left": 2}
    created = s.post(f"{platform.shop_url}/api/users", json={**body, "code": outbox["code"]})
    assert created.status_code == 201 and set(created.json()) == {"user_id", "token"}
    taken = s.post(f"{platform.shop_url}/api/users", json={**body, "code": outbox["code"]})
    assert taken.status_code == 409 and taken.json()["field"] == "phone"
    login = s.post(f"{platform.shop_url}/api/sessions", json={"phone": phone, "password": "a-good-password"})
    assert login.status_code == 200 and login.json()["user_id"] == created.json()["user_id"]
    bad = s.post(f"{platform.shop_url}/api/sessions", json={"phone": phone, "password": "wrong-password"})
    assert bad.status_code == 401 and bad.json()["field"] == "password"


def test_code_is_used_up_after_three_wrong_tries(platform):
    s, phone = http(), new_phone()
    s.post(f"{platform.shop_url}/api/sms/send", json={"phone": phone})
    code = s.get(f"{platform.shop_url}/sandbox/sms/{phone}").json()["code"]
    wrong = "000000" if code != "000000" else "111111"
    tries = [s.post(f"{platform.shop_url}/api/users", json={"phone": phone, "code": wrong, "password": "pw-12345678"})
             .json()["tries_left"] for _ in range(3)]
    assert tries == [2, 1, 0]
    right = s.post(f"{platform.shop_url}/api/users", json={"phone": phone, "code": code, "password": "pw-12345678"})
    assert right.status_code == 400 and right.json()["tries_left"] == 0


def test_catalogue_list_search_detail_images(platform):
    s = http()
    categories = s.get(f"{platform.shop_url}/api/categories").json()["items"]
    assert len(categories) == 20 and sum(c["product_count"] for c in categories) == 5000
    page = s.get(f"{platform.shop_url}/api/products", params={"category": 3, "page": 2, "size": 5}).json()
    assert page["page"] == 2 and page["size"] == 5 and len(page["items"]) == 5
    assert all(item["category_id"] == 3 for item in page["items"])
    assert page["total"] == next(c["product_count"] for c in categories if c["id"] == 3)
    found = s.get(f"{platform.shop_url}/api/products", params={"q": "ORGANIC"}).json()
    assert found["total"] > 0 and all("organic" in i["name"].lower() for i in found["items"])
    assert s.get(f"{platform.shop_url}/api/products", params={"q": "%"}).json()["total"] == 0
    detail = s.get(f"{platform.shop_url}/api/products/42").json()
    assert detail["id"] == 42 and 2 <= len(detail["image_urls"]) <= 4
    sizes = []
    for url in detail["image_urls"]:
        image = s.get(f"{platform.shop_url}{url}")
        assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"
        assert image.content == s.get(f"{platform.shop_url}{url}").content  # deterministic
        sizes.append(len(image.content))
    assert all(20_000 <= n <= 300_000 for n in sizes)
    thumb = s.get(f"{platform.shop_url}{page['items'][0]['thumbnail_url']}")
    assert 20_000 <= len(thumb.content) <= 40_000
    assert s.get(f"{platform.shop_url}/api/products/5001").status_code == 404
    assert s.get(f"{platform.shop_url}/static/img/p5001-0.jpg").status_code == 404


def test_cart_add_change_remove(new_shopper):
    cart = new_shopper.post("/api/cart/items", json={"product_id": 5, "qty": 2}).json()
    assert [(i["product_id"], i["qty"]) for i in cart["items"]] == [(5, 2)]
    cart = new_shopper.post("/api/cart/items", json={"product_id": 5, "qty": 98}).json()
    assert cart["items"][0]["qty"] == 99  # capped
    cart = new_shopper.post("/api/cart/items", json={"product_id": 9, "qty": 1}).json()
    cart = new_shopper.patch("/api/cart/items/5", json={"qty": 3}).json()
    assert {i["product_id"]: i["qty"] for i in cart["items"]} == {5: 3, 9: 1}
    assert cart["total_fen"] == sum(i["qty"] * i["price_fen"] for i in cart["items"])
    cart = new_shopper.delete("/api/cart/items/9").json()
    assert [i["product_id"] for i in cart["items"]] == [5]
    assert new_shopper.get("/api/cart").json() == cart
    assert new_shopper.delete("/api/cart/items/9").status_code == 404
    assert new_shopper.patch("/api/cart/items/9", json={"qty": 1}).status_code == 404


def test_order_from_cart_is_idempotent(new_shopper):
    new_shopper.post("/api/cart/items", json={"product_id": 7, "qty": 2})
    key = uuid.uuid4().hex
    first = new_shopper.post("/api/orders", json={}, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and first.json()["status"] == "CREATED"
    price = new_shopper.get("/api/products/7").json()["price_fen"]
    assert first.json()["amount_fen"] == 2 * price
    assert new_shopper.get("/api/cart").json()["items"] == []  # the cart became the order
    replay = new_shopper.post("/api/orders", json={}, headers={"Idempotency-Key": key})
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other = new_shopper.post("/api/orders", json={"items": [{"product_id": 1, "qty": 1}]},
                             headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["field"] == "Idempotency-Key"
    empty = new_shopper.post("/api/orders", json={}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert empty.status_code == 409 and empty.json()["field"] == "items"


def test_payment_form_order_status_and_pay(platform, new_shopper, keys):
    from services.unionpay.signature import verify_sha256

    order = new_shopper.order([{"product_id": 2, "qty": 3}])
    form = new_shopper.post(f"/api/orders/{order['order_id']}/payment")
    assert form.status_code == 200
    fields = form.json()["fields"]
    assert form.json()["gateway_url"] == f"{platform.gateway_url}/gateway/api/frontTransReq.do"
    assert fields["orderId"] == order["order_id"] and fields["txnAmt"] == str(order["amount_fen"])
    assert verify_sha256(fields, keys.secure_key)
    assert new_shopper.get(f"/api/orders/{order['order_id']}").json()["status"] == "PAYING"
    again = new_shopper.post(f"/api/orders/{order['order_id']}/payment")
    assert again.json()["fields"] == fields  # same txnTime: not a duplicate transaction
    _, confirm = new_shopper.pay(order["order_id"])
    assert confirm.status_code == 200 and confirm.json()["respCode"] == "00"
    paid = new_shopper.wait_status(order["order_id"])
    assert paid["status"] == "PAID" and paid["query_id"] == confirm.json()["queryId"]
    late = new_shopper.post(f"/api/orders/{order['order_id']}/payment")
    assert late.status_code == 409 and late.json()["field"] == "status"


def test_orders_are_private(platform, shopper, new_shopper):
    order = shopper.order()
    assert new_shopper.get(f"/api/orders/{order['order_id']}").status_code == 404
    assert new_shopper.post(f"/api/orders/{order['order_id']}/payment").status_code == 404


def test_admin_routes_need_the_token(platform):
    s = http()
    for path in ("/admin/orders/export", "/admin/faults"):
        assert s.get(f"{platform.shop_url}{path}").status_code == 401
        assert s.get(f"{platform.shop_url}{path}", headers={"X-Admin-Token": "wrong-token"}).status_code == 403
        assert s.get(f"{platform.shop_url}{path}", headers=platform.admin).status_code == 200
    assert s.post(f"{platform.shop_url}/admin/faults", json={"cache_enabled": False}).status_code == 401
    assert s.get(f"{platform.gateway_url}/sim/faults").status_code == 401
    assert s.get(f"{platform.gateway_url}/sim/faults",
                 headers={"Authorization": f"Bearer {platform.admin_token}"}).status_code == 200
    assert s.get(f"{platform.shop_url}/admin/faults", headers=platform.admin).json()["cache_enabled"] is True


def test_gateway_cashier_html_page(platform, new_shopper):
    order = new_shopper.order()
    form = new_shopper.post(f"/api/orders/{order['order_id']}/payment").json()
    page = http().post(form["gateway_url"], data=form["fields"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'action="/gateway/cashier/confirm"' in page.text and order["order_id"] in page.text
    token = page.text.split('name="txn_token" value="')[1].split('"')[0]
    assert http().get(f"{platform.gateway_url}/gateway/cashier/{token}").status_code == 200
    confirm = http().post(f"{platform.gateway_url}/gateway/cashier/confirm", data={"txn_token": token})
    assert confirm.json()["respCode"] == "00"
    assert new_shopper.wait_status(order["order_id"])["status"] == "PAID"
