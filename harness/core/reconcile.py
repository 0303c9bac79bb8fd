"""Reconciliation: did any shopper's payment vanish, or get taken twice?

Three ledgers are compared after a run:

- the client journal (``journal.jsonl``): what shoppers saw acknowledged;
- the platform's order export: every order, its status, amount, the gateway order ids it
  paid through, how many times it was marked PAID and how many notifications it received;
- the gateway's settlement list: every final transaction the bank side knows.

Rules (each broken rule is one detail, named by its ``kind``):

lost (money or an acknowledged order the shopper would miss)
  ``acknowledged_order_missing``  the client saw the order acknowledged; the platform has no such order
  ``paid_not_recorded``           the gateway settled a success; the order is not PAID
  ``paid_status_regressed``       the client saw the order PAID; the platform now says otherwise
duplicated (a shopper charged twice, or a payment applied twice)
  ``charged_twice``               two or more gateway successes for one order
  ``marked_paid_twice``           the order went to PAID more than once (a duplicated
                                  notification changed state again)
  ``order_created_twice``         one Idempotency-Key gave two different orders
mismatched (the ledgers disagree in another way)
  ``amount_mismatch``             gateway amount, platform amount or acknowledged amount differ
  ``paid_without_gateway_success`` PAID on the platform, no gateway success behind it
  ``settlement_unknown_order``    a gateway success whose order id no platform order references
  ``client_success_not_settled``  the client got respCode 00, the settlement list has no success
  ``order_exported_twice``        the export lists one order id twice

Pure: plain data in, a plain dict out (no clock, no files).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PAID = "PAID"
GATEWAY_SUCCESS_CODES = frozenset({"00", "A6"})

LOST_KINDS = frozenset({"acknowledged_order_missing", "paid_not_recorded", "paid_status_regressed"})
DUPLICATED_KINDS = frozenset({"charged_twice", "marked_paid_twice", "order_created_twice"})
MISMATCHED_KINDS = frozenset(
    {
        "amount_mismatch",
        "paid_without_gateway_success",
        "settlement_unknown_order",
        "client_success_not_settled",
        "order_exported_twice",
    }
)


@dataclass(frozen=True)
class PlatformOrder:
    """One order as the platform exports it (amounts in fen, 1/100 yuan)."""

    order_id: str
    status: str
    amount_fen: int
    gateway_order_ids: tuple[str, ...] = ()
    times_marked_paid: int = 0
    notifications_received: int = 0
    idempotency_key: str | None = None


@dataclass(frozen=True)
class GatewayTransaction:
    """One final transaction of the gateway's settlement list (amount in fen)."""

    gateway_order_id: str
    amount_fen: int
    succeeded: bool
    query_id: str = ""


def _detail(kind: str, order_id: str, detail: str) -> dict:
    return {"kind": kind, "order_id": order_id, "detail": detail}


def _client_view(journal: Iterable[Mapping]) -> dict:
    """What the client saw, per order: acknowledged amounts, keys, statuses, gateway ids."""
    acknowledged: dict[str, int | None] = {}
    keys: dict[str, set[str]] = defaultdict(set)
    seen_paid: set[str] = set()
    success_acks: set[str] = set()
    gateway_ids: dict[str, set[str]] = defaultdict(set)
    for entry in journal:
        kind = entry.get("kind")
        order_id = entry.get("order_id")
        if order_id is None:
            continue
        order_id = str(order_id)
        if kind == "order_acknowledged":
            amount = entry.get("amount_fen")
            acknowledged[order_id] = int(amount) if amount is not None else None
            if entry.get("idempotency_key"):
                keys[str(entry["idempotency_key"])].add(order_id)
        elif kind == "payment_submitted" and entry.get("gateway_order_id"):
            gateway_ids[order_id].add(str(entry["gateway_order_id"]))
        elif kind == "payment_acknowledged" and str(entry.get("respCode", "")) in GATEWAY_SUCCESS_CODES:
            success_acks.add(order_id)
        elif kind == "order_seen" and entry.get("status") == PAID:
            seen_paid.add(order_id)
    return {
        "acknowledged": acknowledged,
        "keys": keys,
        "seen_paid": seen_paid,
        "success_acks": success_acks,
        "gateway_ids": gateway_ids,
    }


def reconcile(
    journal: Iterable[Mapping],
    orders: Iterable[PlatformOrder],
    settlement: Iterable[GatewayTransaction],
) -> dict:
    """Compare the client journal, the platform's orders and the gateway's settlement list.

    ``journal``: journal.jsonl entries (dicts with ``kind`` and ``order_id``, see
    docs/run-directory.md). Returns ``{"orders_checked", "lost", "duplicated", "mismatched",
    "details": [{"kind", "order_id", "detail"}]}``; the three counts are numbers of details
    of each class (see the module docstring), details sorted by order id then kind.
    """
    client = _client_view(journal)
    details: list[dict] = []

    by_id: dict[str, PlatformOrder] = {}
    for order in orders:
        if order.order_id in by_id:
            details.append(_detail("order_exported_twice", order.order_id, "the export lists this order id twice"))
        by_id[order.order_id] = order

    # Which platform order does each gateway order id belong to? The platform's own references
    # come first; the client's payment_submitted entries fill in what the export lacks.
    owner: dict[str, str] = {}
    for order in by_id.values():
        for gateway_id in order.gateway_order_ids:
            owner[gateway_id] = order.order_id
    for order_id, gateway_ids in client["gateway_ids"].items():
        for gateway_id in gateway_ids:
            owner.setdefault(gateway_id, order_id)

    successes: dict[str, list[GatewayTransaction]] = defaultdict(list)
    for txn in settlement:
        if not txn.succeeded:
            continue
        order_id = owner.get(txn.gateway_order_id)
        if order_id is None:
            # The platform's order ids may double as gateway order ids.
            order_id = txn.gateway_order_id if txn.gateway_order_id in by_id else None
        if order_id is None:
            details.append(
                _detail(
                    "settlement_unknown_order",
                    txn.gateway_order_id,
                    f"gateway success of {txn.amount_fen} fen (queryId {txn.query_id or '?'}) "
                    "matches no platform order",
                )
            )
            continue
        successes[order_id].append(txn)

    for order_id, txns in successes.items():
        order = by_id.get(order_id)
        if len(txns) > 1:
            ids = ", ".join(sorted(t.gateway_order_id for t in txns))
            total = sum(t.amount_fen for t in txns)
            details.append(
                _detail("charged_twice", order_id, f"{len(txns)} gateway successes ({ids}), {total} fen taken")
            )
        if order is None:
            # Known only from the client journal: the acknowledged-order check names it.
            if order_id not in client["acknowledged"]:
                details.append(
                    _detail("settlement_unknown_order", order_id, "gateway success for an order the platform lacks")
                )
            continue
        if order.status != PAID:
            details.append(
                _detail(
                    "paid_not_recorded",
                    order_id,
                    f"gateway settled {txns[0].amount_fen} fen but the order is {order.status}",
                )
            )
        for txn in txns:
            if txn.amount_fen != order.amount_fen:
                details.append(
                    _detail(
                        "amount_mismatch",
                        order_id,
                        f"gateway {txn.gateway_order_id} settled {txn.amount_fen} fen, order is {order.amount_fen} fen",
                    )
                )

    for order_id, order in by_id.items():
        if order.status == PAID and order_id not in successes:
            details.append(
                _detail("paid_without_gateway_success", order_id, "order is PAID but no gateway success settled it")
            )
        if order.times_marked_paid > 1:
            details.append(
                _detail(
                    "marked_paid_twice",
                    order_id,
                    f"marked PAID {order.times_marked_paid} times after "
                    f"{order.notifications_received} notifications",
                )
            )

    for order_id, amount_fen in client["acknowledged"].items():
        order = by_id.get(order_id)
        if order is None:
            details.append(
                _detail("acknowledged_order_missing", order_id, "client saw the order acknowledged; platform has no such order")
            )
            continue
        if amount_fen is not None and amount_fen != order.amount_fen:
            details.append(
                _detail(
                    "amount_mismatch",
                    order_id,
                    f"client acknowledged {amount_fen} fen, platform order is {order.amount_fen} fen",
                )
            )

    for order_id in client["seen_paid"]:
        order = by_id.get(order_id)
        if order is not None and order.status != PAID:
            details.append(
                _detail("paid_status_regressed", order_id, f"client saw PAID, platform now says {order.status}")
            )

    for order_id in client["success_acks"]:
        if order_id not in successes:
            details.append(
                _detail(
                    "client_success_not_settled",
                    order_id,
                    "client got a gateway success (respCode 00) that the settlement list lacks",
                )
            )

    export_keys: dict[str, set[str]] = defaultdict(set)
    for order in by_id.values():
        if order.idempotency_key:
            export_keys[order.idempotency_key].add(order.order_id)
    for key in sorted(set(client["keys"]) | set(export_keys)):
        order_ids = client["keys"].get(key, set()) | export_keys.get(key, set())
        if len(order_ids) > 1:
            details.append(
                _detail(
                    "order_created_twice",
                    min(order_ids),
                    f"Idempotency-Key {key} gave {len(order_ids)} orders: {', '.join(sorted(order_ids))}",
                )
            )

    details.sort(key=lambda d: (d["order_id"], d["kind"], d["detail"]))
    checked = set(by_id) | set(client["acknowledged"]) | set(successes)
    return {
        "orders_checked": len(checked),
        "lost": sum(1 for d in details if d["kind"] in LOST_KINDS),
        "duplicated": sum(1 for d in details if d["kind"] in DUPLICATED_KINDS),
        "mismatched": sum(1 for d in details if d["kind"] in MISMATCHED_KINDS),
        "details": details,
    }
