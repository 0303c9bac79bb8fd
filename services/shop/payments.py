"""The shop's side of UnionPay: the signed purchase form, applying a payment once, and the
background job that re-queries orders whose result is unknown (query semantics)."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import secrets

import httpx

from services.shop.context import ShopContext
from services.unionpay.keys import MER_ID
from services.unionpay.protocol import (
    SUCCESS_CODES,
    UNKNOWN_CODES,
    china_stamp,
    parse_china_stamp,
    sign_as_merchant,
    verify_from_gateway,
)

log = logging.getLogger("shop.payments")
PAY_TIMEOUT_S = 900.0  # protocol seconds: payTimeout = txnTime + 15 min
FAIL_GRACE_S = 0.5  # wall seconds past the gateway's payTimeout second before 34 means FAILED
REQUERY_TICK_S = 0.2
REQUERY_BATCH = 100


def purchase_form(ctx: ShopContext, order_id: str, user_id: str, amount_fen: int, channel_type: str,
                  now_s: float) -> tuple[dict, float]:
    """The signed frontTransReq.do fields for an order, and the payTimeout deadline (epoch s)
    after which the gateway refuses the payment."""
    pay_timeout = china_stamp(now_s + ctx.scaled_s(PAY_TIMEOUT_S))
    fields = {
        "version": "5.1.0", "encoding": "UTF-8", "signMethod": ctx.config.sign_method, "txnType": "01",
        "txnSubType": "01", "bizType": "000201", "channelType": channel_type, "accessType": "0",
        "merId": MER_ID, "orderId": order_id, "txnTime": china_stamp(now_s), "txnAmt": str(amount_fen),
        "currencyCode": "156", "frontUrl": f"{ctx.config.shop_url}/api/orders/{order_id}",
        "backUrl": f"{ctx.config.shop_url}/api/payments/unionpay/notify", "payTimeout": pay_timeout,
        "reqReserved": user_id,
    }
    return sign_as_merchant(fields, ctx.keys), parse_china_stamp(pay_timeout) + 1.0


def requery_offset_s(query_count: int) -> float:
    """Protocol seconds after the form was issued for query number ``query_count`` (0-based):
    60, 120, 240, 480, then payTimeout (900), then every 300."""
    if query_count < 4:
        return 60.0 * 2**query_count
    return PAY_TIMEOUT_S + 300.0 * (query_count - 4)


def next_query_t_s(ctx: ShopContext, paying_t_s: float, pay_deadline_t_s: float, query_count: int) -> float:
    """Wall time of the next re-query; the one at payTimeout waits for the gateway's deadline."""
    t = paying_t_s + ctx.scaled_s(requery_offset_s(query_count))
    if query_count >= 4:
        t = max(t, pay_deadline_t_s + FAIL_GRACE_S + ctx.scaled_s(300.0 * (query_count - 4)))
    return t


def apply_payment(ctx: ShopContext, order_id: str, query_id: str, source: str, now_s: float) -> bool:
    """Mark an order PAID and record the payment, once (inside the caller's transaction).

    Returns True when a payment was recorded. With ``skip_notify_idempotency`` a notification
    for an already PAID order is recorded again (the deliberately broken handler)."""
    row = ctx.db.one("SELECT status, amount_fen FROM orders WHERE order_id = ?", (order_id,))
    if row is None:
        return False
    status, amount_fen = row
    if status == "PAID" and not (source == "notify" and ctx.knobs.skip_notify_idempotency):
        return False
    ctx.db.run("INSERT INTO payments (payment_id, order_id, query_id, amount_fen, source, applied_t_s)"
               " VALUES (?, ?, ?, ?, ?, ?)", ("P" + secrets.token_hex(8), order_id, query_id, amount_fen,
                                              source, now_s))
    ctx.db.run("UPDATE orders SET status = 'PAID', paid_t_s = ?, query_id = ?, next_query_t_s = NULL"
               " WHERE order_id = ?", (now_s, query_id, order_id))
    ctx.order_cache.pop(order_id, None)
    if status != "PAID":
        ctx.orders_metric.labels("PAID").inc()
    return True


def query_fields(ctx: ShopContext, order_id: str, txn_time: str) -> dict:
    """The signed queryTrans.do fields for an order."""
    fields = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": ctx.config.sign_method, "txnType": "00",
              "txnSubType": "00", "bizType": "000000", "accessType": "0", "merId": MER_ID,
              "orderId": order_id, "txnTime": txn_time}
    return sign_as_merchant(fields, ctx.keys)


async def query_order(ctx: ShopContext, client: httpx.AsyncClient, order: tuple) -> None:
    """Query one PAYING order and move it to PAID / FAILED, or schedule the next query."""
    order_id, txn_time, amount_fen, paying_t_s, pay_deadline_t_s, query_count = order
    try:
        response = await client.post(f"{ctx.config.gateway_url}/gateway/api/queryTrans.do",
                                     data=query_fields(ctx, order_id, txn_time))
        answer = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        answer = {}
    if answer and not verify_from_gateway(answer, ctx.keys):
        log.warning("query answer for %s has a bad signature; ignored", order_id)
        answer = {}
    now = ctx.now()
    code, orig = answer.get("respCode"), answer.get("origRespCode")
    with ctx.db.transaction() as db:
        current = db.one("SELECT status FROM orders WHERE order_id = ?", (order_id,))
        if current is None or current[0] != "PAYING":
            return
        if code == "00" and orig in SUCCESS_CODES and answer.get("txnAmt") == str(amount_fen):
            apply_payment(ctx, order_id, answer.get("queryId", ""), "query", now)
            return
        final_failure = (code == "00" and orig not in SUCCESS_CODES and orig not in UNKNOWN_CODES) or (
            code == "34" and now > pay_deadline_t_s + FAIL_GRACE_S)
        if final_failure:
            db.run("UPDATE orders SET status = 'FAILED', failed_t_s = ?, next_query_t_s = NULL"
                   " WHERE order_id = ?", (now, order_id))
            ctx.order_cache.pop(order_id, None)
            ctx.orders_metric.labels("FAILED").inc()
            return
        db.run("UPDATE orders SET query_count = ?, next_query_t_s = ? WHERE order_id = ?",
               (query_count + 1, next_query_t_s(ctx, paying_t_s, pay_deadline_t_s, query_count + 1), order_id))


async def requery_loop(ctx: ShopContext) -> None:
    """Forever: query every PAYING order whose next query is due (bounded batches)."""
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        while True:
            try:
                due = ctx.db.all("SELECT order_id, txn_time, amount_fen, paying_t_s, pay_deadline_t_s, query_count"
                                 " FROM orders WHERE status = 'PAYING' AND next_query_t_s <= ?"
                                 " ORDER BY next_query_t_s LIMIT ?", (ctx.now(), REQUERY_BATCH))
                if due:
                    await asyncio.gather(*(query_order(ctx, client, row) for row in due))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the job alive; a failed round is retried next tick
                log.exception("requery round failed")
            await asyncio.sleep(REQUERY_TICK_S)


def try_requery_lock(ctx: ShopContext):
    """The file lock that elects one process (of several workers) to run the re-query job;
    the open file to keep, or None when another process holds it."""
    handle = open(ctx.data_dir / "requery.lock", "w")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def form_json(fields: dict) -> str:
    return json.dumps(fields, sort_keys=True)
