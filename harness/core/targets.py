"""Targets as data: the expression grammar, scopes and metrics (pure; no files).

A target says what must hold, where and at which stages::

    expr  = "p95 <= 2.1s"                      # METRIC OP QUANTITY
    expr  = "p95[300%] - p95[100%] <= 20ms"    # difference between two loads
    scope = "api" | "requests" | "endpoint:GET /api/cart" | "journey:checkout" | "business"
            | "memory" | "reconciliation" | "platform" | "telemetry"

Each metric has a kind (duration, ratio, growth, count) and the quantity after the operator
must be of that kind, so ``p95 <= 99%`` is rejected when the file is read, not at verdict time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.core.units import COUNT, DURATION, GROWTH, RATIO, Quantity, UnitError, parse_quantity

OPERATORS = ("<=", ">=", "==", "<", ">")
SEVERITIES = ("error", "warning")
STAGE_SELECTORS = ("nominal", "each")

_LATENCY = {"mean": DURATION, "p50": DURATION, "p95": DURATION, "p99": DURATION, "max": DURATION}
#: scope kind -> metric -> quantity kind
METRICS: dict[str, dict[str, str]] = {
    "requests": {**_LATENCY, "availability": RATIO},
    "api": {**_LATENCY, "availability": RATIO},
    "endpoint": {**_LATENCY, "availability": RATIO},
    "journey": {**_LATENCY, "success_rate": RATIO, "p95_from_intended": DURATION},
    "business": {
        "payment_success": RATIO, "payment_timeouts": RATIO, "registration_completion": RATIO,
        "sms_reentry": RATIO, "product_page_p95": DURATION, "order_sync_lag_p95": DURATION,
    },
    "memory": {"growth": GROWTH},
    "reconciliation": {"lost_or_duplicated_payments": COUNT, "consistency": RATIO},
    # order_cache_hit_rate and lag_p95: the names of targets files kept with older runs
    "platform": {"cache_hit_ratio": RATIO, "order_cache_hit_ratio": RATIO, "order_cache_hit_rate": RATIO},
    "telemetry": {"delay_p95": DURATION, "delay_max": DURATION, "lag_p95": DURATION},
}
#: Scopes whose figures are per stage (the others are per run).
STAGED_SCOPES = ("requests", "api", "endpoint", "journey", "business")
#: Metrics that can be differenced between two loads (the block bootstrap gives their CI).
DIFFERENCE_METRICS = {"api": ("p95",), "endpoint": ("p95",)}

_SIMPLE = re.compile(r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op><=|>=|==|<|>)\s*(?P<value>.+?)\s*$")
_DIFFERENCE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*\[\s*(?P<to>[0-9.]+%)\s*\]\s*-\s*(?P<metric2>[a-z_][a-z0-9_]*)"
    r"\s*\[\s*(?P<from>[0-9.]+%)\s*\]\s*(?P<op><=|>=|==|<|>)\s*(?P<value>.+?)\s*$"
)


class TargetError(ValueError):
    """A target that cannot be understood; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Expression:
    """``metric op threshold``, or ``metric[to_load] - metric[from_load] op threshold``."""

    metric: str
    op: str
    threshold: Quantity
    text: str
    from_load: float | None = None
    to_load: float | None = None

    @property
    def is_difference(self) -> bool:
        """True for a difference between two loads (e.g. ΔP95 of 300% against 100%)."""
        return self.from_load is not None


@dataclass(frozen=True)
class Target:
    """One target of a targets file; ``line`` is where its table starts (1-based)."""

    id: str
    expr: Expression
    warn: Expression | None
    scope: str
    stage: str
    load: float | None
    severity: str
    source: str
    description: str
    line: int

    @property
    def scope_kind(self) -> str:
        """``endpoint`` for ``endpoint:GET /x``, else the scope itself."""
        return self.scope.partition(":")[0]

    @property
    def scope_name(self) -> str:
        """The endpoint or journey name after the colon ('' for aggregate scopes)."""
        return self.scope.partition(":")[2]


def parse_expression(text: str, scope_kind: str, field: str = "expr") -> Expression:
    """Parse ``text`` for a scope kind; TargetError names the field and what is wrong."""
    if not isinstance(text, str):
        raise TargetError(field, f"{field} must be a string such as 'p95 <= 1.2s'")
    metrics = METRICS[scope_kind]
    difference = _DIFFERENCE.match(text)
    match = difference or _SIMPLE.match(text)
    if not match:
        raise TargetError(field, f"{field} {text!r} is not 'METRIC OP VALUE' (e.g. 'p95 <= 1.2s') or "
                                 f"'METRIC[LOAD] - METRIC[LOAD] OP VALUE' (e.g. 'p95[300%] - p95[100%] <= 20ms')")
    metric = match.group("metric")
    if metric not in metrics:
        raise TargetError(field, f"{field} {text!r}: unknown metric {metric!r} for scope {scope_kind!r}; "
                                 f"known: {', '.join(metrics)}")
    try:
        threshold = parse_quantity(match.group("value"))
    except UnitError as error:
        raise TargetError(field, f"{field} {text!r}: {error}") from error
    if threshold.kind != metrics[metric]:
        raise TargetError(field, f"{field} {text!r}: {metric} is a {metrics[metric]}, but "
                                 f"{match.group('value')!r} is a {threshold.kind}")
    if not difference:
        return Expression(metric, match.group("op"), threshold, text.strip())
    if match.group("metric2") != metric:
        raise TargetError(field, f"{field} {text!r}: both sides must use the same metric")
    if metric not in DIFFERENCE_METRICS.get(scope_kind, ()):
        raise TargetError(field, f"{field} {text!r}: differences between loads are measured for "
                                 f"{', '.join(f'{m} in scope {s}' for s, ms in DIFFERENCE_METRICS.items() for m in ms)}")
    to_load, from_load = (parse_load(match.group(name), field) for name in ("to", "from"))
    return Expression(metric, match.group("op"), threshold, text.strip(), from_load, to_load)


def parse_load(text: str, field: str = "load") -> float:
    """A load such as "300%" as a load factor (3.0)."""
    try:
        quantity = parse_quantity(str(text))
    except UnitError as error:
        raise TargetError(field, f"{field} {text!r}: {error}") from error
    if quantity.kind != RATIO or quantity.value <= 0:
        raise TargetError(field, f"{field} {text!r} must be a positive percentage of nominal load, e.g. '300%'")
    return quantity.value


def parse_scope(text: object) -> str:
    """Validate a scope string; returns it unchanged."""
    if not isinstance(text, str) or not text:
        raise TargetError("scope", "scope must be a string such as 'api' or 'endpoint:GET /api/cart'")
    kind, colon, name = text.partition(":")
    if kind not in METRICS:
        raise TargetError("scope", f"scope {text!r}: unknown scope {kind!r}; known: "
                                   f"{', '.join(k + (':NAME' if k in ('endpoint', 'journey') else '') for k in METRICS)}")
    if kind in ("endpoint", "journey") and not name.strip():
        raise TargetError("scope", f"scope {text!r} needs a name after the colon, e.g. '{kind}:checkout'")
    if kind not in ("endpoint", "journey") and colon:
        raise TargetError("scope", f"scope {text!r}: {kind!r} takes no name")
    return text


def make_target(table: dict, line: int) -> Target:
    """A Target from one parsed TOML table; TargetError names the offending key."""
    allowed = {"id", "expr", "warn", "scope", "stage", "load", "severity", "source", "description"}
    for key in table:
        if key not in allowed:
            raise TargetError(key, f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    for key in ("id", "expr", "scope", "source"):
        if key not in table:
            raise TargetError("", f"missing required key {key!r}")
    for key in ("id", "source", "description", "stage", "severity"):
        if key in table and not isinstance(table[key], str):
            raise TargetError(key, f"{key} must be a string")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", table["id"]):
        raise TargetError("id", f"id {table['id']!r} must be letters, digits, '-', '_' or '.'")
    scope = parse_scope(table["scope"])
    kind = scope.partition(":")[0]
    expr = parse_expression(table["expr"], kind, "expr")
    warn = parse_expression(table["warn"], kind, "warn") if "warn" in table else None
    if warn and (warn.metric, warn.from_load, warn.to_load) != (expr.metric, expr.from_load, expr.to_load):
        raise TargetError("warn", f"warn {warn.text!r} must measure the same thing as expr {expr.text!r}")
    severity = table.get("severity", "error")
    if severity not in SEVERITIES:
        raise TargetError("severity", f"severity {severity!r} must be one of {', '.join(SEVERITIES)}")
    if "stage" in table and "load" in table:
        raise TargetError("load", "give either stage or load, not both")
    stage = table.get("stage", "nominal")
    load = parse_load(table["load"]) if "load" in table else None
    if kind not in STAGED_SCOPES and ("stage" in table or "load" in table):
        raise TargetError("stage" if "stage" in table else "load", f"scope {kind!r} is measured per run, not per stage")
    if expr.is_difference and ("stage" in table or "load" in table):
        raise TargetError("stage" if "stage" in table else "load", "a difference names its loads in expr")
    return Target(table["id"], expr, warn, scope, stage, load, severity, table["source"],
                  table.get("description", ""), line)
