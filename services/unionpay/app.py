"""The gateway simulator's FastAPI application (routes in docs/platform.md)."""

from __future__ import annotations

import asyncio
import html
import json
import random
import secrets
import time
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from services.config import ServiceConfig
from services.faults import GatewayKnobs, apply_admin_update, gateway_knobs
from services.latency import KnobError
from services.unionpay.keys import MER_ID, ensure_keys
from services.unionpay.notifier import Notifier
from services.unionpay.protocol import (
    LOOPBACK_HOSTS,
    RESP_MSG,
    ProtocolError,
    china_stamp,
    parse_china_stamp,
    sign_as_gateway,
    validate_purchase,
    validate_query,
)
from services.unionpay.state import STAT_NAMES, Ledger, Transaction
from services.web import (
    BadRequest,
    MetricsAndLimits,
    add_health_and_metrics,
    bad_request_handler,
    new_registry,
    read_form,
)

CONFIRM_ROUTE = "POST /gateway/cashier/confirm"


def _answer(code: str, status: int, field: str | None = None, message: str | None = None, **extra) -> JSONResponse:
    return JSONResponse({"respCode": code, "respMsg": message or RESP_MSG.get(code, ""), "field": field,
                         **extra}, status_code=status)


def _cashier_page(txn: Transaction) -> str:
    amount = int(txn.txn_amt) / 100
    return (f"<!doctype html><html><head><title>UnionPay cashier (simulator)</title></head><body>"
            f"<h1>Pay order {html.escape(txn.order_id)}</h1><p>Amount: ¥{amount:.2f}</p>"
            f'<form method="post" action="/gateway/cashier/confirm">'
            f'<input type="hidden" name="txn_token" value="{html.escape(txn.token)}">'
            f'<button type="submit">Confirm payment</button></form></body></html>')


def create_app(config: ServiceConfig) -> FastAPI:
    """The gateway application for ``config`` (keys are created in its data dir if missing)."""
    keys = ensure_keys(config.keys_dir)
    # notifications go to loopback or to the platform's own address (harness shop --bind)
    notify_hosts = LOOPBACK_HOSTS | {h for h in (urlsplit(config.shop_url).hostname,) if h}
    ledger = Ledger()
    ledger.load_journal(Path(config.data_dir) / "gateway-ledger.jsonl")
    state = {"raw": gateway_knobs(config.gateway_faults).raw}
    state["knobs"] = gateway_knobs(state["raw"])

    def knobs() -> GatewayKnobs:
        return state["knobs"]

    def rng(family: str) -> random.Random:
        return random.Random(f"{config.seed}:gateway:{family}")

    rng_latency, rng_timeout, rng_decline, rng_unknown = (rng(f) for f in ("latency", "timeout", "decline", "unknown"))
    notifier = Notifier(keys, knobs, config.time_scale, rng("notify"), ledger.stats)
    registry, histogram, counter = new_registry("gateway")

    @asynccontextmanager
    async def lifespan(_app):
        notifier.start()
        yield
        await notifier.stop()

    app = FastAPI(title="UnionPay-style gateway simulator", lifespan=lifespan)
    app.add_exception_handler(BadRequest, bad_request_handler)
    app.add_middleware(MetricsAndLimits, histogram=histogram, counter=counter)

    async def inject_latency(route: str) -> None:
        dist = knobs().latency_for(route)
        if not dist.is_zero:
            await asyncio.sleep(dist.sample_ms(rng_latency) / 1000.0)

    def check_admin(request: Request) -> JSONResponse | None:
        token = request.headers.get("x-admin-token")
        auth = request.headers.get("authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:]
        if token is None:
            return _answer("10", 401, "X-Admin-Token", "admin token required")
        if not secrets.compare_digest(token.encode(), config.admin_token.encode()):
            return _answer("10", 403, "X-Admin-Token", "wrong admin token")
        return None

    add_health_and_metrics(app, registry, "gateway")

    @app.post("/gateway/api/frontTransReq.do")
    async def front_trans_req(request: Request):
        await inject_latency("POST /gateway/api/frontTransReq.do")
        fields = await read_form(request)
        now = time.time()
        ledger.stats["front_requests"] += 1
        try:
            validate_purchase(fields, keys, now, notify_hosts)
        except ProtocolError as e:
            return _answer(e.resp_code, e.status, e.field, str(e))
        existing = ledger.by_order.get(fields["orderId"])
        if existing is not None:
            if existing.txn_time != fields["txnTime"] or existing.txn_amt != fields["txnAmt"]:
                return _answer("12", 409, "orderId", "duplicate orderId")
            txn = existing
        else:
            deadline = parse_china_stamp(fields["payTimeout"]) + 1.0 if fields.get("payTimeout") else None
            txn = Transaction(order_id=fields["orderId"], txn_time=fields["txnTime"], txn_amt=fields["txnAmt"],
                              back_url=fields["backUrl"], req_reserved=fields.get("reqReserved", ""),
                              sign_method=fields["signMethod"], pay_deadline_t_s=deadline)
            ledger.by_order[txn.order_id] = txn
            ledger.by_token[txn.token] = txn
        cashier_url = f"{config.gateway_url}/gateway/cashier/{txn.token}"
        if "application/json" in request.headers.get("accept", ""):
            return {"txn_token": txn.token, "cashier_url": cashier_url}
        return HTMLResponse(_cashier_page(txn))

    @app.get("/gateway/cashier/{txn_token}")
    async def cashier_page(txn_token: str):
        txn = ledger.by_token.get(txn_token)
        if txn is None:
            return _answer("34", 404, "txn_token")
        return HTMLResponse(_cashier_page(txn))

    def confirm_body(txn: Transaction) -> dict:
        if txn.state == "committed":
            return {"respCode": "00", "respMsg": RESP_MSG["00"], "orderId": txn.order_id,
                    "queryId": txn.query_id, "txnAmt": txn.txn_amt}
        return {"respCode": "01", "respMsg": RESP_MSG["01"], "orderId": txn.order_id,
                "queryId": "", "txnAmt": txn.txn_amt}

    def commit(txn: Transaction, now: float) -> None:
        txn.state, txn.commit_t_s = "committed", now
        stamp = china_stamp(now)
        txn.query_id = ledger.new_query_id(stamp)
        txn.trace_no = txn.query_id[-6:]
        if rng_unknown.random() < knobs().unknown_result_rate:
            txn.unknown_until_t_s = now + knobs().unknown_result_s * config.time_scale
        ledger.stats["commits"] += 1
        ledger.record_commit(txn)
        notifier.schedule(txn)

    @app.post("/gateway/cashier/confirm")
    async def confirm(request: Request):
        await inject_latency(CONFIRM_ROUTE)
        fields = await read_form(request)
        token = fields.get("txn_token")
        if not token or not isinstance(token, str):
            return _answer("13", 422, "txn_token", "txn_token required")
        txn = ledger.by_token.get(token)
        if txn is None:
            return _answer("34", 404, "txn_token")
        ledger.stats["confirms"] += 1
        if txn.state != "pending":
            return confirm_body(txn)
        now = time.time()
        if txn.pay_deadline_t_s is not None and now > txn.pay_deadline_t_s:
            return {"respCode": "01", "respMsg": "payTimeout passed", "orderId": txn.order_id,
                    "queryId": "", "txnAmt": txn.txn_amt}
        k = knobs()
        u = rng_timeout.random()
        if u < k.timeout_rate_before_commit + k.timeout_rate_after_commit:
            after = u >= k.timeout_rate_before_commit
            if after:
                commit(txn, now)
            ledger.stats["timeouts_after_commit" if after else "timeouts_before_commit"] += 1
            await asyncio.sleep(k.timeout_hold_s)
            return _answer("03", 504, None, "gateway timeout")
        if rng_decline.random() < k.decline_rate:
            txn.state = "declined"
            ledger.stats["declines"] += 1
        else:
            commit(txn, now)
        return confirm_body(txn)

    @app.post("/gateway/api/queryTrans.do")
    async def query_trans(request: Request):
        await inject_latency("POST /gateway/api/queryTrans.do")
        fields = await read_form(request)
        now = time.time()
        try:
            validate_query(fields, keys, now)
        except ProtocolError as e:
            return _answer(e.resp_code, e.status, e.field, str(e))
        ledger.stats["queries"] += 1
        txn = ledger.by_order.get(fields["orderId"])
        answer = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": fields["signMethod"],
                  "txnType": "00", "txnSubType": "00", "bizType": "000000", "accessType": "0",
                  "merId": MER_ID, "orderId": fields["orderId"], "txnTime": fields["txnTime"]}
        if txn is None or txn.txn_time != fields["txnTime"] or txn.state == "pending":
            answer.update(respCode="34", respMsg=RESP_MSG["34"])
        else:
            if txn.state == "committed" and now < txn.unknown_until_t_s:
                orig = rng_unknown.choice(("03", "04", "05"))
            else:
                orig = "00" if txn.state == "committed" else "01"
            stamp = china_stamp(txn.commit_t_s or now)
            answer.update(respCode="00", respMsg=RESP_MSG["00"], origRespCode=orig,
                          origRespMsg=RESP_MSG[orig], queryId=txn.query_id, txnAmt=txn.txn_amt,
                          settleAmt=txn.txn_amt, settleDate=stamp[4:8], traceNo=txn.trace_no,
                          traceTime=stamp[4:], currencyCode="156")
        return sign_as_gateway(answer, keys)

    @app.get("/sim/settlement")
    async def settlement():
        return {"settle_date": china_stamp(time.time())[:8], "transactions": ledger.settlement()}

    @app.get("/sim/stats")
    async def stats():
        return {name: ledger.stats.get(name, 0) for name in STAT_NAMES}

    @app.get("/sim/faults")
    async def get_faults(request: Request):
        return check_admin(request) or state["raw"]

    @app.post("/sim/faults")
    async def post_faults(request: Request):
        denied = check_admin(request)
        if denied:
            return denied
        try:
            update = json.loads(await request.body() or b"{}")
            raw = apply_admin_update(state["raw"], update, gateway_knobs)
        except (ValueError, UnicodeDecodeError) as e:
            field = getattr(e, "field", "body")
            return _answer("10", 422 if isinstance(e, KnobError) else 400, field, str(e))
        state["raw"], state["knobs"] = raw, gateway_knobs(raw)
        return raw

    @app.get("/", response_class=PlainTextResponse)
    async def root():
        return "UnionPay-style gateway simulator"

    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: the config comes from $SERVICE_CONFIG."""
    return create_app(ServiceConfig.from_env())
