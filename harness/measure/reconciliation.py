"""Reconciliation at the edges: fetch the platform's ledgers after the load, reconcile them later.

After the load ends and before the platform stops, ``collect_platform_ledgers`` waits (bounded)
for in-flight notifications and re-queries to settle, then saves

- ``RUN/platform/orders-export.json``: the shop's ``GET /admin/orders/export`` answer;
- ``RUN/platform/settlement.json``: the gateway's ``GET /sim/settlement`` answer;
- ``RUN/platform/settle.json``: how the wait went (``settled``, ``waited_s``, what was still
  pending, errors).

``reconciliation_results(run_dir)`` reads those and ``journal.jsonl`` and hands them to the
pure core (harness.core.reconcile). Both work from the run directory, so ``harness report``
can reconcile an old run again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from harness.core.reconcile import GATEWAY_SUCCESS_CODES, GatewayTransaction, PlatformOrder, reconcile
from harness.rundir import read_jsonl, write_json_atomic

EXPORT_FILE = "orders-export.json"
SETTLEMENT_FILE = "settlement.json"
SETTLE_FILE = "settle.json"
DEFAULT_TIME_SCALE = 1 / 60  # the platform's default: one protocol minute per wall second
PAYMENT_KINDS = frozenset({"payment_submitted", "payment_acknowledged"})
# Gateway counters that move while a payment is still in flight. `queries` is left out: the
# shop's re-query job keeps querying unpaid PAYING orders, which changes nothing.
ACTIVITY_COUNTERS = ("front_requests", "confirms", "commits", "notify_attempts", "notify_delivered",
                     "notify_lost", "notify_duplicated")


def _get_json(url: str, admin_token: str, timeout_s: float) -> Any:
    response = requests.get(url, headers={"X-Admin-Token": admin_token}, timeout=timeout_s)
    response.raise_for_status()
    return response.json()


def _quiet_s(run_dir: Path, gateway_url: str, admin_token: str, timeout_s: float) -> float:
    """Silence long enough that no notification send is still scheduled: the notify schedule's
    largest gap, scaled to wall seconds, plus a second."""
    time_scale = DEFAULT_TIME_SCALE
    try:
        time_scale = float(json.loads((run_dir / "platform" / "port.json").read_text())["time_scale"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        schedule = _get_json(f"{gateway_url}/sim/faults", admin_token, timeout_s)["notify"]["retry_schedule_s"]
        gaps = [b - a for a, b in zip(schedule, schedule[1:], strict=False)] or [0]
        return max(gaps) * time_scale + 1.0
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return 240 * time_scale + 1.0


def collect_platform_ledgers(run_dir: Path, shop_url: str, gateway_url: str, admin_token: str,
                             settle_timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
    """Wait at most ``settle_timeout_s`` seconds for payments to settle, then save the ledgers.

    Settled: no committed gateway transaction whose order is still PAYING, and the gateway's
    payment and notification counters unchanged for the notify schedule's largest gap (so no
    retried or duplicated notification is still due). Saves RUN/platform/{orders-export,
    settlement,settle}.json (atomically). Never raises for an unreachable or dead platform:
    settle.json says what failed, and reconciliation reports the ledgers as missing.
    """
    run_dir = Path(run_dir)
    platform_dir = run_dir / "platform"
    platform_dir.mkdir(parents=True, exist_ok=True)
    shop_url, gateway_url = shop_url.rstrip("/"), gateway_url.rstrip("/")
    http_timeout_s = max(1.0, min(10.0, settle_timeout_s / 3))
    started = time.monotonic()
    deadline = started + settle_timeout_s
    quiet_s = _quiet_s(run_dir, gateway_url, admin_token, http_timeout_s)
    export = settlement = None
    last_activity: tuple | None = None
    quiet_since = time.monotonic()
    status: dict[str, Any] = {"settled": False, "quiet_s": round(quiet_s, 3), "errors": []}
    while True:
        try:
            export = _get_json(f"{shop_url}/admin/orders/export", admin_token, http_timeout_s)
            settlement = _get_json(f"{gateway_url}/sim/settlement", admin_token, http_timeout_s)
            stats = _get_json(f"{gateway_url}/sim/stats", admin_token, http_timeout_s)
        except (requests.RequestException, ValueError) as error:
            status["errors"] = (status["errors"] + [f"{type(error).__name__}: {error}"])[-5:]
        else:
            orders = {str(o.get("order_id")): o for o in export.get("orders", [])}
            paying = [oid for oid, o in orders.items() if o.get("status") == "PAYING"]
            committed_paying = [t.get("orderId") for t in settlement.get("transactions", [])
                                if str(t.get("status")) in GATEWAY_SUCCESS_CODES
                                and orders.get(str(t.get("orderId")), {}).get("status") == "PAYING"]
            activity = tuple(stats.get(key) for key in ACTIVITY_COUNTERS)
            now = time.monotonic()
            if activity != last_activity:
                last_activity, quiet_since = activity, now
            pending_notifications = int(stats.get("notify_pending", 0) or 0)
            status.update(paying_orders=len(paying), committed_but_paying=sorted(map(str, committed_paying)),
                          pending_notifications=pending_notifications)
            if not committed_paying and not pending_notifications and now - quiet_since >= quiet_s:
                status["settled"] = True
                break
        if time.monotonic() + poll_s > deadline:
            break
        time.sleep(poll_s)
    status["waited_s"] = round(time.monotonic() - started, 3)
    status["settle_timeout_s"] = settle_timeout_s
    if export is not None:
        write_json_atomic(platform_dir / EXPORT_FILE, export)
    if settlement is not None:
        write_json_atomic(platform_dir / SETTLEMENT_FILE, settlement)
    write_json_atomic(platform_dir / SETTLE_FILE, status)


def platform_orders(export: dict) -> list[PlatformOrder]:
    """The export's rows as PlatformOrder (the gateway orderId is the shop's order_id)."""
    orders = []
    for row in export.get("orders", []):
        order_id = str(row["order_id"])
        orders.append(PlatformOrder(
            order_id=order_id, status=str(row.get("status")), amount_fen=int(row.get("amount_fen") or 0),
            gateway_order_ids=(order_id,), times_marked_paid=len(row.get("payments") or []),
            notifications_received=int(row.get("notify_count") or 0),
            idempotency_key=row.get("idempotency_key")))
    return orders


def gateway_transactions(settlement: dict) -> list[GatewayTransaction]:
    """The settlement list's transactions as GatewayTransaction (``txnAmt`` is fen as a string)."""
    return [GatewayTransaction(str(t["orderId"]), int(t.get("txnAmt") or 0),
                               str(t.get("status")) in GATEWAY_SUCCESS_CODES, str(t.get("queryId") or ""))
            for t in settlement.get("transactions", [])]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable ({error})") from error


def reconciliation_results(run_dir: Path) -> dict | None:
    """results.json's ``reconciliation`` for ``run_dir``, or None when the run made no payment.

    ``{"orders_checked", "lost", "duplicated", "mismatched", "details", "settled",
    "settle_wait_s"}``; when the ledgers are missing or unreadable the counts are None and
    ``error`` says why (the target lost-or-duplicated-payments then cannot pass).
    """
    run_dir = Path(run_dir)
    journal = read_jsonl(run_dir / "journal.jsonl")
    platform_dir = run_dir / "platform"
    try:
        export = _read_json(platform_dir / EXPORT_FILE)
        settlement = _read_json(platform_dir / SETTLEMENT_FILE)
        settle = _read_json(platform_dir / SETTLE_FILE) or {}
    except ValueError as error:
        return _incomplete(str(error), {})
    made_payments = any(entry.get("kind") in PAYMENT_KINDS for entry in journal)
    if export is None and settlement is None and not made_payments:
        return None
    if export is None or settlement is None:
        missing = ", ".join(str(platform_dir / name) for name, data in
                            ((EXPORT_FILE, export), (SETTLEMENT_FILE, settlement)) if data is None)
        why = "; ".join(settle.get("errors", [])) or "the platform's ledgers were not collected"
        return _incomplete(f"missing {missing}: {why}", settle)
    try:
        result = reconcile(journal, platform_orders(export), gateway_transactions(settlement))
    except (KeyError, TypeError, ValueError) as error:
        return _incomplete(f"{platform_dir}: ledger malformed ({type(error).__name__}: {error})", settle)
    result["settled"] = settle.get("settled")
    result["settle_wait_s"] = settle.get("waited_s")
    return result


def _incomplete(error: str, settle: dict) -> dict:
    return {"orders_checked": 0, "lost": None, "duplicated": None, "mismatched": None, "details": [],
            "settled": settle.get("settled"), "settle_wait_s": settle.get("waited_s"), "error": error}
