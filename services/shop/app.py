"""The shop's FastAPI application: wiring, fault injection, errors, health, metrics, admin."""

from __future__ import annotations

import asyncio
import contextlib
import os
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.config import ServiceConfig
from services.faults import apply_admin_update, shop_knobs
from services.latency import KnobError
from services.shop import accounts, browse, cart, orders
from services.shop.context import ShopContext, cache_lookup_counters
from services.shop.db import Database
from services.shop.leak import leaked_bytes, retain_leaked_bytes
from services.shop.payments import requery_loop, try_requery_lock
from services.unionpay.keys import ensure_keys
from services.web import (
    BadRequest,
    MetricsAndLimits,
    add_health_and_metrics,
    bad_request_handler,
    grouped_route_name,
    new_registry,
    read_json_object,
)

UNFAULTED_PREFIXES = ("/healthz", "/metrics", "/admin/")


def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return JSONResponse({"error": "body is not valid JSON", "field": "body"}, status_code=400)
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    field = loc[-1] if len(loc) > 1 else "body"
    return JSONResponse({"error": f"{field}: {first.get('msg', 'invalid')}", "field": field}, status_code=422)


def _http_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    field = {404: "path", 405: "method"}.get(exc.status_code)
    return JSONResponse({"error": str(exc.detail), "field": field}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


class DatabaseTime:
    """Collector of ``shop_db_seconds_total{part}``: seconds this process spent on its database.
    ``sql`` executing SQL (lock waits included), ``read`` simulated reads holding a connection
    (the ``db_read_latency`` knob), ``pool_wait`` waiting for one (``db_connections``). Against
    ``shop_http_request_duration_seconds_sum`` it gives the database's share of request time."""

    def __init__(self, ctx: ShopContext) -> None:
        self.ctx = ctx

    def collect(self):
        family = CounterMetricFamily("shop_db_seconds", "Seconds spent on the database, by part", labels=["part"])
        family.add_metric(["sql"], self.ctx.db.sql_s)
        family.add_metric(["read"], self.ctx.db_read_s)
        family.add_metric(["pool_wait"], self.ctx.db_wait_s)
        yield family


def create_app(config: ServiceConfig) -> FastAPI:
    """The shop application for ``config`` (tables created and catalogue seeded if missing)."""
    db = Database(config.database, config.data_dir)
    db.setup(config.seed)
    registry, histogram, counter = new_registry("shop")
    orders_metric = Counter("shop_orders", "Order state transitions", ["status"], registry=registry)
    leak_metric = Gauge("shop_leaked_bytes", "Bytes retained by the leak fault", registry=registry)
    leak_metric.set_function(leaked_bytes)
    # which process answered a scrape: with gunicorn --workers N each worker has its own registry
    Gauge("shop_process_pid", "Process id of the shop process that answered", registry=registry).set_function(os.getpid)
    cache_lookups = Counter("shop_cache_lookups", "Cache lookups by cache and result (bypass: cache off)",
                            ["cache", "result"], registry=registry)
    ctx = ShopContext(config=config, db=db, keys=ensure_keys(config.keys_dir),
                      knobs=shop_knobs(config.shop_faults), orders_metric=orders_metric, leak_metric=leak_metric,
                      cache_lookups=cache_lookup_counters(cache_lookups))
    registry.register(DatabaseTime(ctx))

    async def apply_faults(request: Request) -> None:
        # Runs after routing, before the handler: an injected error leaves the database alone.
        if request.url.path.startswith(UNFAULTED_PREFIXES):
            return
        knobs = ctx.knobs
        if knobs.leak_bytes_per_request:
            retain_leaked_bytes(knobs.leak_bytes_per_request)
        route = grouped_route_name(request.scope)
        dist = knobs.latency_for(route)
        if not dist.is_zero:
            await asyncio.sleep(dist.sample_ms(ctx.rng("latency")) / 1000.0)
        rate = knobs.error_rate_for(route)
        if rate and ctx.rng("errors").random() < rate:
            raise BadRequest(503, {"error": "injected fault", "field": None})

    @asynccontextmanager
    async def lifespan(_app):
        lock = try_requery_lock(ctx)
        job = asyncio.get_running_loop().create_task(requery_loop(ctx)) if lock else None
        yield
        if job is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            lock.close()
        db.close()

    app = FastAPI(title="Reference shop", lifespan=lifespan, dependencies=[Depends(apply_faults)])
    app.state.ctx = ctx
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_middleware(MetricsAndLimits, histogram=histogram, counter=counter)

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        response = bad_request_handler(request, exc)
        if exc.status == 503 and exc.body.get("error") == "injected fault":
            response.headers["X-Fault"] = "error_rate"
        return response

    add_health_and_metrics(app, registry, "shop")

    @app.get("/admin/faults")
    async def get_faults(request: Request):
        ctx.check_admin(request)
        return ctx.knobs.raw

    @app.post("/admin/faults")
    async def post_faults(request: Request):
        ctx.check_admin(request)
        update = await read_json_object(request)
        try:
            raw = apply_admin_update(ctx.knobs.raw, update, shop_knobs)
        except KnobError as e:
            return JSONResponse({"error": str(e), "field": e.field}, status_code=422)
        ctx.set_knobs(raw)
        return ctx.knobs.raw

    accounts.register(app, ctx)
    browse.register(app, ctx)
    cart.register(app, ctx)
    orders.register(app, ctx)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn/gunicorn: the config comes from $SERVICE_CONFIG."""
    return create_app(ServiceConfig.from_env())

