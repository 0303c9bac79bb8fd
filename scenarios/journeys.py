"""The shopper's journeys, as plain Python against the client protocol (docs/platform.md routes).

browse (list or category, a search, 2-5 product pages), product_page (one detail plus its
images, fetched concurrently as a browser does), register (SMS code from the sandbox outbox,
sometimes typed wrong once, then log in), cart (add 1-3, view, change a quantity, sometimes
remove), checkout (order with an Idempotency-Key, retried with the same key after a timeout or
5xx; payment form; gateway; cashier confirm; poll the order). :func:`run_visit` strings them
together as scenarios/mix.toml says.

Request names are the platform's grouped route names; a search is named
``GET /api/products?q=[q]`` so its latency is not averaged into plain listings.
"""

from __future__ import annotations

import random
import secrets
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from scenarios.client import CONNECTION, HTTP_5XX, TIMEOUT, Call, Reply, has_fields
from scenarios.mix import Mix
from scenarios.visit import Account, JourneyFailed, Visit

ORDER_POLL_WAITS_S = (1, 2, 4, 8, 16, 32)  # published UnionPay query advice, times time_scale
_phones = random.SystemRandom()  # phones must not repeat across runs against one platform


def _items(reply: Reply) -> str | None:
    body = reply.json()
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return "body lacks an items list"
    return None


def _non_empty_items(reply: Reply) -> str | None:
    return _items(reply) or (None if reply.json()["items"] else "no items")


def _error_field(name: str):
    def check(reply: Reply) -> str | None:
        body = reply.json()
        return None if isinstance(body, dict) and body.get("field") == name else f"error does not name {name}"

    return check


def think(visit: Visit, mix: Mix) -> None:
    """Pause between journeys: uniform in the mix's think range, times the profile's time_scale."""
    pause_s = visit.rng.uniform(mix.think_s_min, mix.think_s_max) * visit.time_scale
    if pause_s > 0:
        visit.sleep(pause_s)


def product_page(visit: Visit, product_id: int) -> dict[str, Any]:
    """One product detail page with all its images: a ``product_page`` journey."""
    with visit.journey("product_page") as journey:
        detail = journey.send(
            Call("GET", f"/api/products/{product_id}", "GET /api/products/[id]",
                 check=has_fields("id", "price_fen", "image_urls"))
        ).json()  # fmt: skip
        journey.send_all([Call("GET", url, "GET /static/img/[name]") for url in detail["image_urls"]])
        return detail


def browse(visit: Visit, mix: Mix) -> None:
    """A listing (home or a category), a search for a word seen in it, then 2-5 product pages."""
    rng = visit.rng
    with visit.journey("browse") as journey:
        if rng.random() < mix.category_share:
            categories = journey.send(Call("GET", "/api/categories", "GET /api/categories", check=_non_empty_items))
            category = rng.choice(categories.json()["items"])
            path = f"/api/products?category={category['id']}&size=20"
        else:
            path = f"/api/products?page={rng.randint(1, 3)}&size=20"
        listed = journey.send(Call("GET", path, "GET /api/products", check=_items)).json()["items"]
        if not listed:  # a late page or an empty category: fall back to the first page
            listed = journey.send(Call("GET", "/api/products?size=20", "GET /api/products",
                                       check=_non_empty_items)).json()["items"]  # fmt: skip
        word = rng.choice(rng.choice(listed)["name"].split())
        found = journey.send(
            Call("GET", f"/api/products?q={quote(word)}&size=20", "GET /api/products?q=[q]", check=_items)
        ).json()["items"]  # fmt: skip
        candidates = sorted({item["id"] for item in listed + found})
        count = min(rng.randint(mix.products_min, mix.products_max), len(candidates))
        for product_id in rng.sample(candidates, count):
            detail = product_page(visit, product_id)
            if detail.get("stock", 1) > 0:
                visit.product_ids.append(product_id)


def register(visit: Visit, mix: Mix) -> None:
    """Sign up with an SMS code (typed wrong once in ``sms_reentry_share`` of cases), then log in."""
    rng = visit.rng
    phone = "13" + "".join(_phones.choice("0123456789") for _ in range(9))
    password = secrets.token_hex(8)
    with visit.journey("register") as journey:
        sent = journey.try_send(Call("POST", "/api/sms/send", "POST /api/sms/send", json={"phone": phone},
                                     expect=(202,), check=has_fields("phone")))  # fmt: skip
        if sent.status == 429:
            journey.flags.append("sms_throttled")
        if not sent.ok:
            raise JourneyFailed(Call("POST", "/api/sms/send", "POST /api/sms/send"), sent)
        code = journey.send(
            Call("GET", f"/sandbox/sms/{phone}", "GET /sandbox/sms/[phone]", check=has_fields("code"))
        ).json()["code"]  # fmt: skip
        signup = {"phone": phone, "code": code, "password": password}
        if rng.random() < mix.sms_reentry_share:
            journey.flags.append("sms_reentry")
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            journey.send(Call("POST", "/api/users", "POST /api/users", json={**signup, "code": wrong},
                              expect=(400,), check=_error_field("code")))  # fmt: skip
        journey.send(Call("POST", "/api/users", "POST /api/users", json=signup, expect=(201,),
                          check=has_fields("user_id", "token")))  # fmt: skip
        session = journey.send(Call("POST", "/api/sessions", "POST /api/sessions",
                                    json={"phone": phone, "password": password}, check=has_fields("token")))
        visit.token = session.json()["token"]
        visit.account = Account(phone, password)
        journey.outcome = "registered"


def cart(visit: Visit, mix: Mix) -> None:
    """Log in if needed, add 1-3 viewed products, view the cart, change a quantity, maybe remove one."""
    rng = visit.rng
    with visit.journey("cart") as journey:
        if visit.token is None and visit.account is not None:
            session = journey.send(Call("POST", "/api/sessions", "POST /api/sessions", check=has_fields("token"),
                                        json={"phone": visit.account.phone, "password": visit.account.password}))
            visit.token = session.json()["token"]
        auth = visit.auth()
        choices = sorted(set(visit.product_ids))
        count = min(rng.randint(mix.cart_items_min, mix.cart_items_max), len(choices))
        for product_id in rng.sample(choices, count):
            journey.send(Call("POST", "/api/cart/items", "POST /api/cart/items", headers=auth,
                              json={"product_id": product_id, "qty": rng.randint(1, 2)}, check=_items))
        lines = journey.send(Call("GET", "/api/cart", "GET /api/cart", headers=auth, check=_non_empty_items))
        items = lines.json()["items"]
        line = rng.choice(items)
        journey.send(Call("PATCH", f"/api/cart/items/{line['product_id']}", "PATCH /api/cart/items/[product_id]",
                          headers=auth, json={"qty": rng.randint(1, 3)}, check=_items))  # fmt: skip
        if len(items) > 1 and rng.random() < mix.cart_remove_share:
            gone = rng.choice(items)["product_id"]
            journey.send(Call("DELETE", f"/api/cart/items/{gone}", "DELETE /api/cart/items/[product_id]",
                              headers=auth, check=_items))  # fmt: skip


def checkout(visit: Visit) -> str:
    """Order the cart, pay through the gateway's cashier, poll the order until PAID/FAILED or time out.

    Outcomes: ``paid``, ``payment_failed`` (declined, or the order became FAILED),
    ``unresolved`` (the journey time limit came first), ``failed`` (a request failed).
    """
    with visit.journey("checkout") as journey:
        deadline_t_s = visit.clock() + visit.journey_timeout_s
        auth = visit.auth()
        key = uuid.uuid4().hex
        order_call = Call("POST", "/api/orders", "POST /api/orders", json={}, expect=(201,),
                          headers={**auth, "Idempotency-Key": key}, check=has_fields("order_id", "amount_fen"))
        reply = journey.try_send(order_call)
        if reply.error_kind in (TIMEOUT, CONNECTION, HTTP_5XX):
            journey.flags.append("order_retry")  # the same key: the platform must not create a second order
            reply = journey.try_send(order_call)
        if not reply.ok:
            raise JourneyFailed(order_call, reply)
        order = reply.json()
        order_id = order["order_id"]
        journey.journal("order_acknowledged", order_id=order_id, amount_fen=order["amount_fen"], idempotency_key=key)

        form = journey.send(Call("POST", f"/api/orders/{order_id}/payment", "POST /api/orders/[id]/payment",
                                 headers=auth, json={"channel_type": "07"},
                                 check=has_fields("gateway_url", "fields"))).json()  # fmt: skip
        fields = form["fields"]
        journey.journal("payment_submitted", order_id=order_id, gateway_order_id=fields.get("orderId"),
                        txn_time=fields.get("txnTime"))  # fmt: skip
        front = journey.send(Call("POST", form["gateway_url"], "POST /gateway/api/frontTransReq.do", form=fields,
                                  headers={"Accept": "application/json"}, check=has_fields("txn_token")))
        gateway = urlsplit(form["gateway_url"])
        confirm_call = Call("POST", f"{gateway.scheme}://{gateway.netloc}/gateway/cashier/confirm",
                            "POST /gateway/cashier/confirm", json={"txn_token": front.json()["txn_token"]},
                            check=has_fields("respCode"))  # fmt: skip
        confirm = journey.try_send(confirm_call)
        gateway_success_t_s = None
        if confirm.ok:
            code = confirm.json()["respCode"]
            journey.journal("payment_acknowledged", order_id=order_id, respCode=code)
            if code in ("00", "A6"):
                gateway_success_t_s = visit.clock()
            else:
                journey.outcome, journey.ok = "payment_failed", False  # declined: nothing was committed
                return journey.outcome
        elif confirm.status == 504 or confirm.error_kind == TIMEOUT:
            journey.flags.append("gateway_timeout")  # maybe committed, maybe not: the order status decides
        else:
            raise JourneyFailed(confirm_call, confirm)
        journey.outcome = _poll_order(visit, journey, order_id, auth, deadline_t_s, gateway_success_t_s)
        journey.ok = journey.outcome == "paid"
        return journey.outcome


def _poll_order(visit, journey, order_id: str, auth: dict[str, str], deadline_t_s: float,
                gateway_success_t_s: float | None) -> str:  # fmt: skip
    """Poll the order now (the shopper lands back on the shop), then after 1, 2, 4, ... s scaled."""
    seen = None
    waits_s = (0.0, *(wait * visit.time_scale for wait in ORDER_POLL_WAITS_S))
    for wait_s in waits_s:
        remaining_s = deadline_t_s - visit.clock()
        if remaining_s <= 0:
            break
        if wait_s > 0:
            visit.sleep(min(wait_s, remaining_s))
        reply = journey.try_send(Call("GET", f"/api/orders/{order_id}", "GET /api/orders/[id]", headers=auth,
                                      check=has_fields("status")))  # fmt: skip
        if not reply.ok:
            continue  # a failed poll is recorded as a failed request; the shopper asks again
        status = reply.json()["status"]
        if status != seen:
            seen = status
            journey.journal("order_seen", order_id=order_id, status=status)
        if status == "PAID":
            if gateway_success_t_s is not None:
                journey.sync_lag_ms = (visit.clock() - gateway_success_t_s) * 1000.0
            return "paid"
        if status == "FAILED":
            return "payment_failed"
    return "unresolved"


def run_visit(visit: Visit, mix: Mix) -> str:
    """Run one visit as the mix says and record its ``visit`` row; returns its outcome.

    Outcomes: ``completed``, ``failed`` (a journey failed), ``timeout`` (a checkout unresolved).
    """
    rng, outcome = visit.rng, "failed"
    # Draw the whole plan first, so a failure early in the visit does not shift later draws.
    registers = rng.random() < mix.register_share
    carts = rng.random() < mix.cart_share
    pays = rng.random() < mix.checkout_share_of_carts
    try:
        browse(visit, mix)
        if registers:
            think(visit, mix)
            register(visit, mix)
        if carts and visit.product_ids:
            if visit.account is None:
                visit.account = visit.accounts.borrow(rng)
            if visit.account is None:  # a new customer must sign up to buy
                think(visit, mix)
                register(visit, mix)
            think(visit, mix)
            cart(visit, mix)
            if pays:
                think(visit, mix)
                paid = checkout(visit)
                if paid != "paid":
                    outcome = "timeout" if paid == "unresolved" else "failed"
                    return outcome
        outcome = "completed"
    except JourneyFailed:
        outcome = "failed"
    finally:
        if visit.account is not None:
            visit.accounts.give_back(visit.account)
        visit.sink.journey(
            visit.visit_id, visit.visit_id, "visit", visit.stage, visit.in_ramp, visit.intended_t_s,
            visit.start_t_s, visit.clock(), outcome == "completed", outcome,
        )  # fmt: skip
    return outcome
