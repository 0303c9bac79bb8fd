"""Orders (idempotent creation), the payment form, order status, the gateway's notification
(backUrl) and the admin export."""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError

from services.shop.context import ORDER_CACHE_TTL_S, ShopContext
from services.shop.db import IntegrityError
from services.shop.models import OrderBody, PaymentBody
from services.shop.payments import apply_payment, next_query_t_s, purchase_form
from services.unionpay.keys import MER_ID
from services.unionpay.protocol import SUCCESS_CODES, verify_from_gateway
from services.web import error, read_form, read_json_object

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
ORDER_ID = re.compile(r"SO[0-9A-F]{16}")
ORDER_COLUMNS = ("order_id, user_id, status, amount_fen, items_json, created_t_s, paying_t_s, paid_t_s,"
                 " failed_t_s, txn_time, query_id, notify_count, form_json, pay_deadline_t_s")


def _order_dict(row: tuple) -> dict:
    return {"order_id": row[0], "user_id": row[1], "status": row[2], "amount_fen": row[3],
            "items": json.loads(row[4]), "created_t_s": row[5], "paying_t_s": row[6], "paid_t_s": row[7],
            "failed_t_s": row[8], "txn_time": row[9], "query_id": row[10], "notify_count": row[11],
            "form_json": row[12], "pay_deadline_t_s": row[13]}


def public_order(order: dict) -> dict:
    """The order as a shopper sees it."""
    return {k: order[k] for k in ("order_id", "status", "amount_fen", "items", "created_t_s", "paid_t_s",
                                  "query_id")}


def _validation_error(e: ValidationError) -> Exception:
    first = e.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    return error(422, first.get("msg", "invalid"), loc[-1] if loc else "body")


def register(app: FastAPI, ctx: ShopContext) -> None:
    """Add the order, payment and notification routes to ``app``."""

    def load_order(order_id: str, user_id: str | None) -> dict:
        if not ORDER_ID.fullmatch(order_id):
            raise error(404, "no such order", "id")
        row = ctx.db.one(f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?", (order_id,))
        if row is None or (user_id is not None and row[1] != user_id):
            raise error(404, "no such order", "id")
        return _order_dict(row)

    @app.post("/api/orders", status_code=201)
    async def create_order(request: Request):
        user_id = await ctx.user_id(request)
        key = request.headers.get("idempotency-key")
        if key is None or not IDEMPOTENCY_KEY.fullmatch(key):
            raise error(400, "Idempotency-Key header required: 1-64 of A-Z a-z 0-9 _ -", "Idempotency-Key")
        raw = await read_json_object(request, allow_empty=True)
        try:
            body = OrderBody.model_validate(raw)
        except ValidationError as e:
            raise _validation_error(e) from None
        body_hash = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        now = ctx.now()
        order_id = "SO" + secrets.token_hex(8).upper()
        with ctx.db.transaction() as db:
            existing = db.one("SELECT order_id, body_hash FROM orders WHERE user_id = ? AND idem_key = ?",
                              (user_id, key))
            if existing is not None:
                if existing[1] != body_hash:
                    raise error(422, "Idempotency-Key reused with a different body", "Idempotency-Key")
                order_id = existing[0]
            else:
                if body.items is None:
                    lines = {r[0]: r[1] for r in db.all(
                        "SELECT product_id, qty FROM cart_items WHERE user_id = ?", (user_id,))}
                    if not lines:
                        raise error(409, "cart is empty", "items")
                else:
                    lines = {}
                    for line in body.items:
                        lines[line.product_id] = min(lines.get(line.product_id, 0) + line.qty, 99)
                items = []
                for product_id in sorted(lines):
                    row = db.one("SELECT price_fen FROM products WHERE id = ?", (product_id,))
                    if row is None:
                        raise error(404, f"no such product {product_id}", "product_id")
                    items.append({"product_id": product_id, "qty": lines[product_id], "price_fen": row[0]})
                amount = sum(i["qty"] * i["price_fen"] for i in items)
                try:
                    db.run("INSERT INTO orders (order_id, user_id, status, amount_fen, items_json, idem_key,"
                           " body_hash, created_t_s) VALUES (?, ?, 'CREATED', ?, ?, ?, ?, ?)",
                           (order_id, user_id, amount, json.dumps(items), key, body_hash, now))
                except IntegrityError:
                    raise error(409, "concurrent request with the same Idempotency-Key", "Idempotency-Key") from None
                if body.items is None:
                    db.run("DELETE FROM cart_items WHERE user_id = ?", (user_id,))
                ctx.orders_metric.labels("CREATED").inc()
        order = public_order(load_order(order_id, user_id))
        headers = {"Idempotent-Replayed": "true"} if existing is not None else {}
        return JSONResponse(order, status_code=201, headers=headers)

    @app.post("/api/orders/{id}/payment")
    async def payment_form(request: Request, id: str):
        user_id = await ctx.user_id(request)
        raw = await read_json_object(request, allow_empty=True)
        try:
            body = PaymentBody.model_validate(raw)
        except ValidationError as e:
            raise _validation_error(e) from None
        now = ctx.now()
        with ctx.db.transaction():
            order = load_order(id, user_id)
            if order["status"] == "PAYING":
                fields = json.loads(order["form_json"])
            elif order["status"] != "CREATED":
                raise error(409, f"order is {order['status']}", "status")
            else:
                fields, deadline = purchase_form(ctx, id, user_id, order["amount_fen"], body.channel_type, now)
                ctx.db.run("UPDATE orders SET status = 'PAYING', paying_t_s = ?, txn_time = ?, form_json = ?,"
                           " pay_deadline_t_s = ?, next_query_t_s = ?, query_count = 0 WHERE order_id = ?",
                           (now, fields["txnTime"], json.dumps(fields), deadline,
                            next_query_t_s(ctx, now, deadline, 0), id))
                ctx.order_cache.pop(id, None)
                ctx.orders_metric.labels("PAYING").inc()
        return {"order_id": id, "amount_fen": order["amount_fen"],
                "gateway_url": f"{ctx.config.gateway_url}/gateway/api/frontTransReq.do", "fields": fields}

    @app.get("/api/orders/{id}")
    async def get_order(request: Request, id: str):
        user_id = await ctx.user_id(request)
        now = ctx.now()
        enabled = ctx.knobs.cache_enabled
        hit = ctx.order_cache.get(id) if enabled else None
        # a stale entry (not final, older than the TTL) or another shopper's goes to the database: a miss
        fresh = hit is not None and hit[0]["user_id"] == user_id and (
            hit[0]["status"] in ("PAID", "FAILED") or now - hit[1] < ORDER_CACHE_TTL_S)
        ctx.count_lookup("order", "hit" if fresh else "miss" if enabled else "bypass")
        if fresh:
            return public_order(hit[0])
        await ctx.db_read_delay()
        order = load_order(id, user_id)
        if ctx.knobs.cache_enabled:
            ctx.order_cache.put(id, (order, now))
        return public_order(order)

    @app.post("/api/payments/unionpay/notify")
    async def notify(request: Request):
        fields = await read_form(request)
        for name in ("signMethod", "signature", "merId", "orderId", "txnAmt", "respCode", "queryId"):
            if not fields.get(name):
                raise error(422, f"{name} missing", name)
        if not verify_from_gateway(fields, ctx.keys):
            raise error(400, "bad signature", "signature")
        if fields["merId"] != MER_ID:
            raise error(400, "wrong merId", "merId")
        row = ctx.db.one("SELECT amount_fen FROM orders WHERE order_id = ?", (fields["orderId"][:64],))
        if row is None:
            raise error(404, "no such order", "orderId")
        if fields["txnAmt"] != str(row[0]):
            raise error(400, "txnAmt differs from the order amount", "txnAmt")
        if fields["respCode"] not in SUCCESS_CODES:
            return PlainTextResponse("ok")
        with ctx.db.transaction() as db:
            db.run("UPDATE orders SET notify_count = notify_count + 1 WHERE order_id = ?", (fields["orderId"],))
            apply_payment(ctx, fields["orderId"], fields["queryId"], "notify", ctx.now())
        return PlainTextResponse("ok")

    @app.get("/admin/orders/export")
    async def export(request: Request):
        ctx.check_admin(request)
        payments: dict[str, list] = {}
        for p in ctx.db.all("SELECT order_id, query_id, amount_fen, source, applied_t_s FROM payments"
                            " ORDER BY applied_t_s"):
            payments.setdefault(p[0], []).append(
                {"query_id": p[1], "amount_fen": p[2], "source": p[3], "applied_t_s": p[4]})
        orders = []
        for row in ctx.db.all(f"SELECT {ORDER_COLUMNS} FROM orders ORDER BY created_t_s"):
            o = _order_dict(row)
            orders.append({k: o[k] for k in ("order_id", "user_id", "status", "amount_fen", "created_t_s",
                                              "paying_t_s", "paid_t_s", "failed_t_s", "txn_time", "query_id",
                                              "notify_count")} | {"payments": payments.get(o["order_id"], [])})
        return {"orders": orders}
