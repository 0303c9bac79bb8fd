"""HTTP plumbing shared by the shop and the gateway: grouped route names, a metrics and
body-size ASGI middleware, form/JSON body reading with 4xx errors naming the field."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.process_collector import ProcessCollector

MAX_BODY_BYTES = 64 * 1024


class BadRequest(Exception):
    """A client error: HTTP ``status`` and the JSON body to answer with."""

    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


def error(status: int, message: str, field: str | None = None, **extra) -> BadRequest:
    """A shop-style error ``{"error", "field", ...}`` to raise."""
    return BadRequest(status, {"error": message, "field": field, **extra})


def bad_request_handler(_request: Request, exc: BadRequest) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status)


def grouped_route_name(scope: dict) -> str:
    """``METHOD /path/[param]`` for the matched route, ``METHOD UNMATCHED`` otherwise."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return f"{scope.get('method', '?')} UNMATCHED"
    return f"{scope['method']} {path.replace('{', '[').replace('}', ']')}"


def new_registry(prefix: str) -> tuple[CollectorRegistry, Histogram, PromCounter]:
    """A registry with process metrics, a per-route latency histogram and a request counter."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    histogram = Histogram(f"{prefix}_http_request_duration_seconds", "Request latency by route",
                          ["route"], registry=registry,
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                   1.5, 2.0, 2.5, 3.0, 5.0, 10.0))
    counter = PromCounter(f"{prefix}_http_requests", "Requests by route and status",
                          ["route", "status"], registry=registry)
    return registry, histogram, counter


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)


def add_health_and_metrics(app, registry: CollectorRegistry, role: str) -> None:
    """``GET /healthz`` (``{"status": "ok", "role": role}``) and ``GET /metrics`` on ``app``."""

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "role": role}

    @app.get("/metrics")
    async def metrics():
        return Response(metrics_text(registry), media_type="text/plain; version=0.0.4")


class MetricsAndLimits:
    """Pure ASGI middleware: refuse bodies over MAX_BODY_BYTES (413) by Content-Length, and
    observe every request's latency under its grouped route name."""

    def __init__(self, app, histogram: Histogram, counter: PromCounter):
        self.app, self.histogram, self.counter = app, histogram, counter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > MAX_BODY_BYTES
                except ValueError:
                    too_big = True
                if too_big:
                    response = JSONResponse({"error": f"body larger than {MAX_BODY_BYTES} bytes",
                                             "field": "body", "respCode": "10"}, status_code=413)
                    return await response(scope, receive, send)
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = grouped_route_name(scope)
            self.histogram.labels(route).observe(time.perf_counter() - started)
            self.counter.labels(route, str(status[0])).inc()


async def read_body(request: Request) -> bytes:
    """The request body, at most MAX_BODY_BYTES (413 beyond, also for chunked bodies)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise error(413, f"body larger than {MAX_BODY_BYTES} bytes", "body")
    return body


async def read_json_object(request: Request, allow_empty: bool = False) -> dict:
    """The body as a JSON object; 400 ``field: body`` when it is not one."""
    body = await read_body(request)
    if not body.strip() and allow_empty:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise error(400, "body is not valid JSON", "body") from None
    if not isinstance(data, dict):
        raise error(400, "body must be a JSON object", "body")
    return data


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins);
    ``BadRequest`` (gateway style, respCode 10) when it is not one."""
    body = await read_body(request)
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            return data
        raise BadRequest(400, {"respCode": "10", "respMsg": "body must be a JSON object of strings",
                               "field": "body"})
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, {"respCode": "10", "respMsg": "body is not a UTF-8 form",
                               "field": "body"}) from None
