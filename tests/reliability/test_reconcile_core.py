"""Known cases for each discrepancy the reconciliation core can name."""

from __future__ import annotations

import pytest

from harness.core.reconcile import GatewayTransaction, PlatformOrder, reconcile


def ack(order_id, amount_fen=1000, key=None):
    return {"t_s": 1.0, "kind": "order_acknowledged", "journey_id": "j", "order_id": order_id,
            "amount_fen": amount_fen, "idempotency_key": key or f"key-{order_id}"}


def submitted(order_id, gateway_order_id):
    return {"t_s": 2.0, "kind": "payment_submitted", "journey_id": "j", "order_id": order_id,
            "gateway_order_id": gateway_order_id, "txn_time": "20261128170000"}


def pay_ack(order_id, code="00"):
    return {"t_s": 3.0, "kind": "payment_acknowledged", "journey_id": "j", "order_id": order_id, "respCode": code}


def seen(order_id, status="PAID"):
    return {"t_s": 4.0, "kind": "order_seen", "journey_id": "j", "order_id": order_id, "status": status}


def paid_order(order_id, amount_fen=1000, gateway=None, times=1, notifications=1, key=None):
    return PlatformOrder(order_id, "PAID", amount_fen, (gateway or f"G{order_id}",), times, notifications,
                         key or f"key-{order_id}")


def success(gateway_order_id, amount_fen=1000):
    return GatewayTransaction(gateway_order_id, amount_fen, True, f"q{gateway_order_id}")


def healthy_ledgers(n=3):
    journal, orders, settlement = [], [], []
    for i in range(n):
        oid = f"O{i}"
        journal += [ack(oid), submitted(oid, f"G{oid}"), pay_ack(oid), seen(oid)]
        orders.append(paid_order(oid))
        settlement.append(success(f"G{oid}"))
    return journal, orders, settlement


def kinds(result):
    return [(d["kind"], d["order_id"]) for d in result["details"]]


def test_healthy_ledgers_reconcile_clean():
    # GIVEN three orders paid once each, seen by all three ledgers
    journal, orders, settlement = healthy_ledgers()
    # WHEN reconciled
    result = reconcile(journal, orders, settlement)
    # THEN nothing is wrong and every order was checked
    assert result == {"orders_checked": 3, "lost": 0, "duplicated": 0, "mismatched": 0, "details": []}


def test_duplicated_notifications_that_changed_state_once_are_fine():
    journal, orders, settlement = healthy_ledgers(1)
    orders = [paid_order("O0", times=1, notifications=3)]
    assert reconcile(journal, orders, settlement)["details"] == []


def test_failed_and_unpaid_orders_without_gateway_success_are_fine():
    journal = [ack("O1"), submitted("O1", "GO1"), pay_ack("O1", "05")]
    orders = [PlatformOrder("O1", "FAILED", 1000, ("GO1",))]
    settlement = [GatewayTransaction("GO1", 1000, False)]
    assert reconcile(journal, orders, settlement)["details"] == []


def test_acknowledged_order_missing_is_lost():
    journal, orders, settlement = healthy_ledgers(2)
    result = reconcile(journal + [ack("O9")], orders, settlement)
    assert kinds(result) == [("acknowledged_order_missing", "O9")]
    assert (result["lost"], result["duplicated"], result["mismatched"]) == (1, 0, 0)
    assert result["orders_checked"] == 3


def test_gateway_success_on_unpaid_order_is_lost():
    # The lost-acknowledgement case: the gateway took the money, the platform never learned
    journal, orders, settlement = healthy_ledgers(2)
    orders[1] = PlatformOrder("O1", "PAYING", 1000, ("GO1",))
    result = reconcile(journal[:4] + [ack("O1"), submitted("O1", "GO1")], orders, settlement)
    assert kinds(result) == [("paid_not_recorded", "O1")]
    assert "PAYING" in result["details"][0]["detail"]
    assert result["lost"] == 1


def test_paid_status_regressed_is_lost():
    journal, orders, settlement = healthy_ledgers(1)
    orders = [PlatformOrder("O0", "FAILED", 1000, ("GO0",))]
    result = reconcile(journal, orders, [])
    assert ("paid_status_regressed", "O0") in kinds(result)
    assert result["lost"] == 1


def test_two_gateway_successes_for_one_order_is_charged_twice():
    journal, orders, settlement = healthy_ledgers(1)
    orders = [PlatformOrder("O0", "PAID", 1000, ("GO0", "GO0b"), 1, 1, "key-O0")]
    result = reconcile(journal, orders, settlement + [success("GO0b")])
    assert kinds(result) == [("charged_twice", "O0")]
    assert "2000 fen" in result["details"][0]["detail"]
    assert result["duplicated"] == 1


def test_second_attempt_known_only_from_journal_still_counts_as_charged_twice():
    # The platform forgot the first (timed-out) attempt; the client journal remembers it
    journal, orders, settlement = healthy_ledgers(1)
    journal.append(submitted("O0", "GO0-first"))
    result = reconcile(journal, orders, settlement + [success("GO0-first")])
    assert kinds(result) == [("charged_twice", "O0")]


def test_marked_paid_twice_names_the_order():
    journal, orders, settlement = healthy_ledgers(2)
    orders[0] = paid_order("O0", times=2, notifications=2)
    result = reconcile(journal, orders, settlement)
    assert kinds(result) == [("marked_paid_twice", "O0")]
    assert result["details"][0]["detail"] == "marked PAID 2 times after 2 notifications"
    assert (result["lost"], result["duplicated"], result["mismatched"]) == (0, 1, 0)


def test_one_idempotency_key_two_orders_is_order_created_twice():
    journal, orders, settlement = healthy_ledgers(1)
    journal.append(ack("O0-retry", key="key-O0"))
    orders.append(PlatformOrder("O0-retry", "CREATED", 1000, (), 0, 0, "key-O0"))
    result = reconcile(journal, orders, settlement)
    assert kinds(result) == [("order_created_twice", "O0")]
    assert "O0, O0-retry" in result["details"][0]["detail"]


def test_gateway_amount_differs_from_order_is_mismatched():
    journal, orders, settlement = healthy_ledgers(1)
    result = reconcile(journal, orders, [success("GO0", amount_fen=999)])
    assert kinds(result) == [("amount_mismatch", "O0")]
    assert result["mismatched"] == 1 and result["lost"] == 0


def test_acknowledged_amount_differs_from_order_is_mismatched():
    journal, orders, settlement = healthy_ledgers(1)
    journal[0] = ack("O0", amount_fen=1200)
    result = reconcile(journal, orders, settlement)
    assert kinds(result) == [("amount_mismatch", "O0")]
    assert "1200" in result["details"][0]["detail"]


def test_paid_without_gateway_success_is_mismatched():
    journal, orders, settlement = healthy_ledgers(2)
    result = reconcile(journal[:4] + [ack("O1")], orders, settlement[:1])
    assert kinds(result) == [("paid_without_gateway_success", "O1")]
    assert result["mismatched"] == 1


def test_settlement_for_unknown_order_is_mismatched():
    journal, orders, settlement = healthy_ledgers(1)
    result = reconcile(journal, orders, settlement + [success("GZZ")])
    assert kinds(result) == [("settlement_unknown_order", "GZZ")]


def test_gateway_order_id_equal_to_order_id_matches_without_references():
    orders = [PlatformOrder("O1", "PAID", 500, ())]
    assert reconcile([ack("O1", 500)], orders, [success("O1", 500)])["details"] == []


def test_client_success_not_in_settlement_is_mismatched():
    journal = [ack("O1"), submitted("O1", "GO1"), pay_ack("O1", "00")]
    orders = [PlatformOrder("O1", "PAYING", 1000, ("GO1",))]
    result = reconcile(journal, orders, [])
    assert kinds(result) == [("client_success_not_settled", "O1")]


def test_order_exported_twice_is_mismatched():
    journal, orders, settlement = healthy_ledgers(1)
    result = reconcile(journal, orders + orders, settlement)
    assert kinds(result) == [("order_exported_twice", "O0")]


def test_every_detail_has_kind_order_and_text():
    journal, orders, settlement = healthy_ledgers(3)
    orders[0] = paid_order("O0", times=3, notifications=3)
    result = reconcile(journal + [ack("O7")], orders, settlement + [success("GX")])
    for detail in result["details"]:
        assert set(detail) == {"kind", "order_id", "detail"} and detail["detail"]
    assert result["lost"] + result["duplicated"] + result["mismatched"] == len(result["details"]) == 3


@pytest.mark.parametrize("journal", [[{"kind": "order_acknowledged"}], [{"kind": "noise", "order_id": "x"}]])
def test_journal_entries_without_order_or_of_unknown_kind_are_ignored(journal):
    assert reconcile(journal, [], [])["orders_checked"] == 0
