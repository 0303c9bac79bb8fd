"""Fault knobs of the shop and the gateway: defaults, presets, validation, TOML files.

Knobs travel as plain dicts (JSON over the admin APIs, TOML at start). :func:`shop_knobs` and
:func:`gateway_knobs` validate a full dict into a frozen object the services read per request;
:func:`merge_knobs` applies a partial update. docs/platform.md is the schema.
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.latency import NO_LATENCY, KnobError, LatencyDist

PRESETS = ("healthy", "documented-problems")

SHOP_DEFAULTS: dict = {
    "latency": {},
    "error_rate": {},
    "cache_enabled": True,
    "db_read_latency": {"kind": "none"},
    "db_connections": 0,
    "leak_bytes_per_request": 0,
    "skip_notify_idempotency": False,
    "sms_sandbox": True,
}

GATEWAY_DEFAULTS: dict = {
    "latency": {},
    "timeout_rate_before_commit": 0.0,
    "timeout_rate_after_commit": 0.0,
    "timeout_hold_s": 2.5,
    "decline_rate": 0.0,
    "unknown_result_rate": 0.0,
    "unknown_result_s": 120.0,
    "notify": {
        "loss_rate": 0.0,
        "drop_rate": 0.0,
        "duplicate_rate": 0.0,
        "delay": {"kind": "none"},
        "retry_schedule_s": [0, 60, 120, 240, 480],
    },
    "bad_signature_rate": 0.0,
    "tampered_amount_rate": 0.0,
}

# 0.5 GB/h = 5e8 B / 3600 s = 138,889 B/s. Measured: the 100% stage of profiles/step-300.toml
# (2 visits/s) makes 34.6 shop requests/s in its steady part (harness campaign, 2026-11-28, 60 s
# stage), so 138,889 / 34.6 = 4,014 B per request. At 200% and 300% the same knob leaks 2x and
# 3x as fast: the leak is per request, as a real one is.
DOCUMENTED_LEAK_BYTES_PER_REQUEST = 4000

_DOCUMENTED_SHOP = {
    "cache_enabled": False,
    # With the cache off every read goes to the database; the documents' problem state is an
    # API mean of 2.4 s and a P95 of 3.2 s (000 ch.2). A lognormal read of median 2 s and
    # sigma 0.35 has a mean of 2.1 s and a P95 of 3.5 s per read.
    "db_read_latency": {"kind": "lognormal", "median_ms": 2000.0, "sigma": 0.35},
    "leak_bytes_per_request": DOCUMENTED_LEAK_BYTES_PER_REQUEST,
}
_DOCUMENTED_GATEWAY = {
    # 17% UnionPay timeouts (documents 000 ch.2), half of them after commit.
    "timeout_rate_before_commit": 0.085,
    "timeout_rate_after_commit": 0.085,
}


def preset_knobs(name: str) -> tuple[dict, dict]:
    """The (shop, gateway) knob dicts of a preset; raises KnobError for an unknown name."""
    shop, gateway = copy.deepcopy(SHOP_DEFAULTS), copy.deepcopy(GATEWAY_DEFAULTS)
    if name == "healthy":
        return shop, gateway
    if name == "documented-problems":
        return merge_knobs(shop, _DOCUMENTED_SHOP), merge_knobs(gateway, _DOCUMENTED_GATEWAY)
    raise KnobError("preset", f"unknown preset {name!r}; known: {', '.join(PRESETS)}")


def merge_knobs(current: dict, update: dict) -> dict:
    """``current`` with ``update`` applied: top-level maps (latency, error_rate, notify) merge one
    level deep, everything else is replaced. Neither argument is modified."""
    out = copy.deepcopy(current)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "db_read_latency":
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _rate(d: dict, key: str, prefix: str = "") -> float:
    return _rate_value(d.get(key), prefix + key)


def _rate_value(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise KnobError(name, "must be a number between 0 and 1")
    return float(value)


def _seconds(d: dict, key: str, prefix: str = "", hi: float = 3600.0) -> float:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise KnobError(prefix + key, "must be a number of seconds")
    if not 0.0 <= value <= hi:
        raise KnobError(prefix + key, f"must be between 0 and {hi:g}")
    return float(value)


def _bool(d: dict, key: str) -> bool:
    if not isinstance(d.get(key), bool):
        raise KnobError(key, "must be true or false")
    return d[key]


def _check_keys(d: object, allowed: dict, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        raise KnobError(prefix.rstrip(".") or "knobs", "must be a table/object")
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise KnobError(prefix + unknown[0], "unknown knob")
    return d


def _route_map(d: dict, key: str) -> dict:
    routes = d.get(key)
    if not isinstance(routes, dict):
        raise KnobError(key, "must map route names ('GET /api/products/[id]' or '*') to values")
    for route in routes:
        if route != "*" and (not isinstance(route, str) or " /" not in route):
            raise KnobError(f"{key}.{route}", "route name must look like 'METHOD /path' or be '*'")
    return routes


@dataclass(frozen=True)
class ShopKnobs:
    """Validated shop knobs (see docs/platform.md)."""

    raw: dict
    latency: dict[str, LatencyDist] = field(default_factory=dict)
    error_rate: dict[str, float] = field(default_factory=dict)
    cache_enabled: bool = True
    db_read_latency: LatencyDist = NO_LATENCY
    db_connections: int = 0  # 0: every read starts at once; N: at most N at a time per shop process
    leak_bytes_per_request: int = 0
    skip_notify_idempotency: bool = False
    sms_sandbox: bool = True

    def latency_for(self, route: str) -> LatencyDist:
        return self.latency.get(route) or self.latency.get("*") or NO_LATENCY

    def error_rate_for(self, route: str) -> float:
        return self.error_rate.get(route, self.error_rate.get("*", 0.0))


def shop_knobs(d: dict) -> ShopKnobs:
    """Validate a full shop knob dict (defaults merged in first); raises KnobError."""
    d = merge_knobs(SHOP_DEFAULTS, _check_keys(d, SHOP_DEFAULTS))
    latency = {r: LatencyDist.parse(v, f"latency.{r}") for r, v in _route_map(d, "latency").items()}
    errors = {r: _rate_value(v, f"error_rate.{r}") for r, v in _route_map(d, "error_rate").items()}
    leak = d["leak_bytes_per_request"]
    if isinstance(leak, bool) or not isinstance(leak, int) or not 0 <= leak <= 10_000_000:
        raise KnobError("leak_bytes_per_request", "must be an integer between 0 and 10000000")
    connections = d["db_connections"]
    if isinstance(connections, bool) or not isinstance(connections, int) or not 0 <= connections <= 10_000:
        raise KnobError("db_connections", "must be an integer between 0 (no limit) and 10000")
    return ShopKnobs(
        raw=d,
        latency=latency,
        error_rate=errors,
        cache_enabled=_bool(d, "cache_enabled"),
        db_read_latency=LatencyDist.parse(d["db_read_latency"], "db_read_latency"),
        db_connections=connections,
        leak_bytes_per_request=leak,
        skip_notify_idempotency=_bool(d, "skip_notify_idempotency"),
        sms_sandbox=_bool(d, "sms_sandbox"),
    )


@dataclass(frozen=True)
class GatewayKnobs:
    """Validated gateway knobs (see docs/platform.md)."""

    raw: dict
    latency: dict[str, LatencyDist]
    timeout_rate_before_commit: float
    timeout_rate_after_commit: float
    timeout_hold_s: float
    decline_rate: float
    unknown_result_rate: float
    unknown_result_s: float
    notify_loss_rate: float
    notify_drop_rate: float
    notify_duplicate_rate: float
    notify_delay: LatencyDist
    notify_retry_schedule_s: tuple[float, ...]
    bad_signature_rate: float
    tampered_amount_rate: float

    def latency_for(self, route: str) -> LatencyDist:
        return self.latency.get(route) or self.latency.get("*") or NO_LATENCY


def gateway_knobs(d: dict) -> GatewayKnobs:
    """Validate a full gateway knob dict (defaults merged in first); raises KnobError."""
    d = merge_knobs(GATEWAY_DEFAULTS, _check_keys(d, GATEWAY_DEFAULTS))
    n = _check_keys(d["notify"], GATEWAY_DEFAULTS["notify"], "notify.")
    schedule = n["retry_schedule_s"]
    if not isinstance(schedule, list) or not 1 <= len(schedule) <= 20:
        raise KnobError("notify.retry_schedule_s", "must be a list of 1-20 offsets in seconds")
    offsets = tuple(_seconds({"retry_schedule_s": s}, "retry_schedule_s", "notify.", 86_400.0) for s in schedule)
    if list(offsets) != sorted(offsets):
        raise KnobError("notify.retry_schedule_s", "offsets must not decrease")
    before, after = _rate(d, "timeout_rate_before_commit"), _rate(d, "timeout_rate_after_commit")
    if before + after > 1.0:
        raise KnobError("timeout_rate_after_commit", "timeout rates must add up to at most 1")
    return GatewayKnobs(
        raw=d,
        latency={r: LatencyDist.parse(v, f"latency.{r}") for r, v in _route_map(d, "latency").items()},
        timeout_rate_before_commit=before,
        timeout_rate_after_commit=after,
        timeout_hold_s=_seconds(d, "timeout_hold_s", hi=60.0),
        decline_rate=_rate(d, "decline_rate"),
        unknown_result_rate=_rate(d, "unknown_result_rate"),
        unknown_result_s=_seconds(d, "unknown_result_s", hi=86_400.0),
        notify_loss_rate=_rate(n, "loss_rate", "notify."),
        notify_drop_rate=_rate(n, "drop_rate", "notify."),
        notify_duplicate_rate=_rate(n, "duplicate_rate", "notify."),
        notify_delay=LatencyDist.parse(n["delay"], "notify.delay"),
        notify_retry_schedule_s=offsets,
        bad_signature_rate=_rate(d, "bad_signature_rate"),
        tampered_amount_rate=_rate(d, "tampered_amount_rate"),
    )


def apply_admin_update(current: dict, update: object, validate) -> dict:
    """The knob dict after an admin POST body: ``{"preset": NAME}`` replaces (shop or gateway
    half chosen by ``validate``), anything else merges. Raises KnobError; returns the new dict."""
    if not isinstance(update, dict):
        raise KnobError("body", "must be a JSON object of knobs")
    if "preset" in update:
        name = update["preset"]
        if not isinstance(name, str):
            raise KnobError("preset", "must be a preset name")
        shop, gateway = preset_knobs(name)
        base = shop if validate is shop_knobs else gateway
        rest = {k: v for k, v in update.items() if k != "preset"}
        merged = merge_knobs(base, rest)
    else:
        merged = merge_knobs(current, update)
    return validate(merged).raw


def load_faults(spec: str) -> tuple[str, dict, dict]:
    """``--faults`` value (a preset name or a TOML file path) → (label, shop dict, gateway dict).

    Raises KnobError whose field names the file and key."""
    if spec in PRESETS:
        shop, gateway = preset_knobs(spec)
        return spec, shop, gateway
    path = Path(spec)
    if not path.is_file():
        raise KnobError("--faults", f"{spec!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise KnobError(str(path), f"not valid TOML: {error}") from error
    unknown = sorted(set(data) - {"preset", "shop", "gateway"})
    if unknown:
        raise KnobError(f"{path}: {unknown[0]}", "unknown key (expected preset, [shop], [gateway])")
    preset = data.get("preset", "healthy")
    try:
        shop, gateway = preset_knobs(preset if isinstance(preset, str) else "")
    except KnobError as error:
        raise KnobError(f"{path}: preset", str(error).split(": ", 1)[-1]) from error
    for section, validate, base in (("shop", shop_knobs, shop), ("gateway", gateway_knobs, gateway)):
        try:
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise KnobError("", "must be a table")
            merged = validate(merge_knobs(base, table)).raw
        except KnobError as error:
            raise KnobError(f"{path}: {section}.{error.field}", str(error).split(": ", 1)[-1]) from error
        if section == "shop":
            shop = merged
        else:
            gateway = merged
    return str(path), shop, gateway
