"""Collecting the platform's ledgers over real HTTP (a stub of the admin routes) and reconciling
a run directory."""

from __future__ import annotations

import json
import threading
import time

from harness.measure.reconciliation import collect_platform_ledgers, reconciliation_results
from tests.reliability.stub_platform import ADMIN_TOKEN, StubPlatform


def export_row(order_id, status="PAID", amount_fen=1000, payments=1, notify_count=1):
    return {"order_id": order_id, "user_id": 1, "status": status, "amount_fen": amount_fen,
            "created_t_s": 1.0, "paying_t_s": 2.0, "paid_t_s": 3.0 if status == "PAID" else None,
            "failed_t_s": None, "txn_time": "20261128170000", "query_id": "Q" + order_id,
            "notify_count": notify_count,
            "payments": [{"query_id": "Q" + order_id, "amount_fen": amount_fen, "source": "notify",
                          "applied_t_s": 3.0}] * payments}


def txn(order_id, amount_fen=1000):
    return {"orderId": order_id, "txnTime": "20261128170000", "txnAmt": str(amount_fen),
            "queryId": "Q" + order_id, "status": "00", "commit_t_s": 2.5}


def journal_for(*order_ids):
    lines = []
    for oid in order_ids:
        lines += [{"t_s": 1.0, "kind": "order_acknowledged", "journey_id": "j", "order_id": oid,
                   "amount_fen": 1000, "idempotency_key": "k" + oid},
                  {"t_s": 2.0, "kind": "payment_submitted", "journey_id": "j", "order_id": oid,
                   "gateway_order_id": oid, "txn_time": "20261128170000"}]
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_waits_for_a_late_notification_then_saves_the_ledgers(tmp_path):
    # GIVEN a committed payment whose order is still PAYING (the notification is in flight)
    with StubPlatform() as stub:
        stub.state["/admin/orders/export"] = {"orders": [export_row("SO1", status="PAYING", payments=0)]}
        stub.state["/sim/settlement"]["transactions"] = [txn("SO1")]

        def notification_arrives():
            time.sleep(0.8)
            with stub.lock:
                stub.state["/admin/orders/export"] = {"orders": [export_row("SO1")]}
                stub.state["/sim/stats"] = {"commits": 1, "notify_attempts": 1}

        threading.Thread(target=notification_arrives, daemon=True).start()
        # WHEN the ledgers are collected
        collect_platform_ledgers(tmp_path, stub.url, stub.url + "/", ADMIN_TOKEN, settle_timeout_s=20, poll_s=0.1)
    # THEN it waited for PAID plus a quiet gateway, and saved both ledgers
    settle = json.loads((tmp_path / "platform" / "settle.json").read_text())
    assert settle["settled"] is True and settle["committed_but_paying"] == []
    assert settle["waited_s"] >= 0.8 + settle["quiet_s"] - 0.2
    export = json.loads((tmp_path / "platform" / "orders-export.json").read_text())
    assert export["orders"][0]["status"] == "PAID"
    (tmp_path / "journal.jsonl").write_text(journal_for("SO1"))
    result = reconciliation_results(tmp_path)
    assert (result["orders_checked"], result["lost"], result["duplicated"], result["mismatched"]) == (1, 0, 0, 0)
    assert result["settled"] is True


def test_unsettled_payment_is_reported_lost_after_the_bounded_wait(tmp_path):
    with StubPlatform() as stub:
        stub.state["/admin/orders/export"] = {"orders": [export_row("SO1", status="PAYING", payments=0),
                                                         export_row("SO2")]}
        stub.state["/sim/settlement"]["transactions"] = [txn("SO1"), txn("SO2")]
        collect_platform_ledgers(tmp_path, stub.url, stub.url, ADMIN_TOKEN, settle_timeout_s=1.5, poll_s=0.1)
    settle = json.loads((tmp_path / "platform" / "settle.json").read_text())
    assert settle["settled"] is False and settle["committed_but_paying"] == ["SO1"]
    (tmp_path / "journal.jsonl").write_text(journal_for("SO1", "SO2"))
    result = reconciliation_results(tmp_path)
    assert [(d["kind"], d["order_id"]) for d in result["details"]] == [("paid_not_recorded", "SO1")]
    assert result["lost"] == 1 and result["settled"] is False


def test_double_applied_notification_is_found_and_named(tmp_path):
    with StubPlatform() as stub:
        stub.state["/admin/orders/export"] = {"orders": [export_row("SO1"), export_row("SO2", payments=2, notify_count=2)]}
        stub.state["/sim/settlement"]["transactions"] = [txn("SO1"), txn("SO2")]
        collect_platform_ledgers(tmp_path, stub.url, stub.url, ADMIN_TOKEN, settle_timeout_s=10, poll_s=0.1)
    (tmp_path / "journal.jsonl").write_text(journal_for("SO1", "SO2"))
    result = reconciliation_results(tmp_path)
    assert result["duplicated"] == 1 and result["lost"] == 0
    assert result["details"] == [{"kind": "marked_paid_twice", "order_id": "SO2",
                                  "detail": "marked PAID 2 times after 2 notifications"}]


def test_dead_platform_does_not_hang_and_reconciliation_says_what_is_missing(tmp_path):
    started = time.monotonic()
    collect_platform_ledgers(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9", "t", settle_timeout_s=1.0, poll_s=0.2)
    assert time.monotonic() - started < 30  # bounded (a generous bound: this is not a speed test)
    settle = json.loads((tmp_path / "platform" / "settle.json").read_text())
    assert settle["settled"] is False and "ConnectionError" in settle["errors"][-1]
    assert not (tmp_path / "platform" / "orders-export.json").exists()
    (tmp_path / "journal.jsonl").write_text(journal_for("SO1"))
    result = reconciliation_results(tmp_path)
    assert result["lost"] is None and "orders-export.json" in result["error"] and "ConnectionError" in result["error"]


def test_run_without_payments_has_no_reconciliation(tmp_path):
    assert reconciliation_results(tmp_path) is None
    (tmp_path / "journal.jsonl").write_text(json.dumps({"t_s": 1, "kind": "order_acknowledged", "order_id": "SO1"}) + "\n")
    assert reconciliation_results(tmp_path) is None


def test_malformed_ledger_is_named(tmp_path):
    (tmp_path / "platform").mkdir()
    (tmp_path / "platform" / "orders-export.json").write_text("{not json")
    result = reconciliation_results(tmp_path)
    assert result["lost"] is None and "orders-export.json: unreadable" in result["error"]
    (tmp_path / "platform" / "orders-export.json").write_text(json.dumps({"orders": [{"status": "PAID"}]}))
    (tmp_path / "platform" / "settlement.json").write_text(json.dumps({"transactions": []}))
    result = reconciliation_results(tmp_path)
    assert "ledger malformed" in result["error"] and "order_id" in result["error"]
