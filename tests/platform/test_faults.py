"""Every fault knob, shop and gateway, shows its effect (set at run time through the admin
APIs; the `faults` fixture resets them to healthy). Time-based knobs are checked by lower
bounds only (an injected delay is never shorter than asked)."""

from __future__ import annotations

import re
import sqlite3
import time

from scipy.stats import binom

from services.unionpay.notifier import notification_fields
from services.unionpay.state import Transaction
from tests.platform._helpers import http


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([-+0-9.eE]+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def wait_for(predicate, timeout_s: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


def test_route_latency_applies_to_the_named_route(faults, shopper):
    faults.shop_faults(latency={"GET /api/products/[id]": {"kind": "fixed", "ms": 300}})
    started = time.monotonic()
    assert shopper.get("/api/products/8").status_code == 200
    assert time.monotonic() - started >= 0.3
    faults.shop_faults(latency={"*": {"kind": "uniform", "min_ms": 200, "max_ms": 250}})
    started = time.monotonic()
    assert shopper.get("/api/categories").status_code == 200
    assert time.monotonic() - started >= 0.2


def test_error_rate_injects_503_before_the_handler(faults, new_shopper):
    faults.shop_faults(error_rate={"POST /api/cart/items": 1.0})
    failed = new_shopper.post("/api/cart/items", json={"product_id": 3, "qty": 1})
    assert failed.status_code == 503 and failed.headers["X-Fault"] == "error_rate"
    assert new_shopper.get("/api/cart").json()["items"] == []  # nothing was written
    faults.shop_faults(error_rate={"POST /api/cart/items": 0.0, "GET /api/categories": 0.3})
    n = 300
    errors = sum(new_shopper.get("/api/categories").status_code == 503 for _ in range(n))
    low, high = binom.interval(0.999, n, 0.3)
    assert low <= errors <= high


def test_cache_off_reads_the_database_every_time(faults):
    db = sqlite3.connect(faults.data_dir / "shop.db", timeout=10)
    s = http()
    original = s.get(f"{faults.shop_url}/api/products/77").json()["name"]  # now cached
    try:
        with db:
            db.execute("UPDATE products SET name = 'Renamed behind the cache' WHERE id = 77")
        assert s.get(f"{faults.shop_url}/api/products/77").json()["name"] == original  # served from cache
        faults.shop_faults(cache_enabled=False)
        assert s.get(f"{faults.shop_url}/api/products/77").json()["name"] == "Renamed behind the cache"
        with db:
            db.execute("UPDATE products SET name = 'Renamed twice' WHERE id = 77")
        assert s.get(f"{faults.shop_url}/api/products/77").json()["name"] == "Renamed twice"
    finally:
        with db:
            db.execute("UPDATE products SET name = ? WHERE id = 77", (original,))
        db.close()


def test_db_read_latency_is_paid_on_database_reads(faults, shopper):
    faults.shop_faults(cache_enabled=False, db_read_latency={"kind": "fixed", "ms": 250})
    started = time.monotonic()
    assert shopper.get("/api/products/9").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_db_connections_queue_reads_and_the_database_time_is_counted(faults, shopper):
    """With one connection, concurrent reads of 200 ms each go one at a time: eight of them
    take >= 1.6 s in all, and shop_db_seconds_total counts the reads and the wait."""
    import concurrent.futures

    s = http()
    before = s.get(f"{faults.shop_url}/metrics").text
    faults.shop_faults(cache_enabled=False, db_read_latency={"kind": "fixed", "ms": 200}, db_connections=1)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: http().get(f"{faults.shop_url}/api/products/{i + 1}").status_code, range(8)))
    elapsed_s = time.monotonic() - started
    faults.shop_faults(db_connections=0)
    after = s.get(f"{faults.shop_url}/metrics").text
    assert codes == [200] * 8
    assert elapsed_s >= 1.6  # serialized: 8 × 200 ms
    grew = {part: metric(after, f'shop_db_seconds_total{{part="{part}"}}')
            - metric(before, f'shop_db_seconds_total{{part="{part}"}}') for part in ("read", "pool_wait", "sql")}
    assert grew["read"] >= 1.6
    # the k-th read in waits ~k × 200 ms when all 8 arrive together (5.6 s in all); half of that
    # allows for requests that reach the shop a little apart, and is still far from no queue (0 s)
    assert grew["pool_wait"] >= 0.2 * (1 + 2 + 3 + 4 + 5 + 6 + 7) * 0.5
    assert grew["sql"] > 0


def test_db_connections_must_be_a_count(faults):
    for bad in (-1, 1.5, True, "4"):
        response = http().post(f"{faults.shop_url}/admin/faults", json={"db_connections": bad},
                               headers={"X-Admin-Token": faults.admin_token})
        assert response.status_code in (400, 422) and "db_connections" in response.text


def test_leak_retains_bytes_per_request(faults, shopper):
    s = http()
    before = s.get(f"{faults.shop_url}/metrics").text
    faults.shop_faults(leak_bytes_per_request=1_000_000)
    for _ in range(40):
        assert shopper.get("/api/products/1").status_code == 200
    faults.shop_faults(leak_bytes_per_request=0)
    after = s.get(f"{faults.shop_url}/metrics").text
    assert metric(after, "shop_leaked_bytes") - metric(before, "shop_leaked_bytes") == 40_000_000
    grown = metric(after, "process_resident_memory_bytes") - metric(before, "process_resident_memory_bytes")
    assert grown >= 30_000_000


def test_sms_sandbox_off_hides_the_outbox(faults):
    s = http()
    phone = "13512345678"
    s.post(f"{faults.shop_url}/api/sms/send", json={"phone": phone})
    assert s.get(f"{faults.shop_url}/sandbox/sms/{phone}").status_code == 200
    faults.shop_faults(sms_sandbox=False)
    assert s.get(f"{faults.shop_url}/sandbox/sms/{phone}").status_code == 404


def _duplicate_notification(platform, keys, order_id: str) -> int:
    row = platform.export()[order_id]
    txn = Transaction(order_id=order_id, txn_time=row["txn_time"], txn_amt=str(row["amount_fen"]), back_url="",
                      req_reserved="", sign_method="11", pay_deadline_t_s=None, query_id=row["query_id"],
                      commit_t_s=time.time(), trace_no=row["query_id"][-6:])
    return http().post(f"{platform.shop_url}/api/payments/unionpay/notify",
                       data=notification_fields(txn, keys)).status_code


def test_duplicate_notifications_pay_once_unless_idempotency_is_skipped(faults, new_shopper, keys):
    order = new_shopper.order()
    new_shopper.pay(order["order_id"])
    assert new_shopper.wait_status(order["order_id"])["status"] == "PAID"
    assert _duplicate_notification(faults, keys, order["order_id"]) == 200
    row = wait_for(lambda: (r := faults.export()[order["order_id"]])["notify_count"] >= 2 and r, what="notify")
    assert len(row["payments"]) == 1
    faults.shop_faults(skip_notify_idempotency=True)
    assert _duplicate_notification(faults, keys, order["order_id"]) == 200
    assert len(faults.export()[order["order_id"]]["payments"]) == 2  # the broken handler paid twice


def test_gateway_latency(faults, new_shopper):
    faults.gateway_faults(latency={"POST /gateway/cashier/confirm": {"kind": "fixed", "ms": 300}})
    order = new_shopper.order()
    started = time.monotonic()
    _, confirm = new_shopper.pay(order["order_id"])
    assert confirm.status_code == 200 and time.monotonic() - started >= 0.3


def test_timeout_before_commit_pays_nothing_and_a_retry_commits(faults, new_shopper, keys):
    faults.gateway_faults(timeout_rate_before_commit=1.0, timeout_hold_s=0.2)
    stats = faults.gateway_stats()
    order = new_shopper.order()
    form = new_shopper.post(f"/api/orders/{order['order_id']}/payment").json()
    token = http().post(form["gateway_url"], data=form["fields"], headers={"Accept": "application/json"}).json()
    started = time.monotonic()
    confirm = http().post(f"{faults.gateway_url}/gateway/cashier/confirm", json=token)
    assert confirm.status_code == 504 and confirm.json()["respCode"] == "03"
    assert time.monotonic() - started >= 0.2
    after = faults.gateway_stats()
    assert after["timeouts_before_commit"] == stats["timeouts_before_commit"] + 1
    assert after["commits"] == stats["commits"]
    settled = http().get(f"{faults.gateway_url}/sim/settlement").json()["transactions"]
    assert order["order_id"] not in {t["orderId"] for t in settled}
    faults.gateway_faults(timeout_rate_before_commit=0.0)
    retry = http().post(f"{faults.gateway_url}/gateway/cashier/confirm", json=token)
    assert retry.status_code == 200 and retry.json()["respCode"] == "00"
    assert new_shopper.wait_status(order["order_id"])["status"] == "PAID"


def test_timeout_after_commit_still_pays(faults, new_shopper):
    faults.gateway_faults(timeout_rate_after_commit=1.0, timeout_hold_s=0.1)
    order = new_shopper.order()
    _, confirm = new_shopper.pay(order["order_id"])
    assert confirm.status_code == 504
    assert new_shopper.wait_status(order["order_id"])["status"] == "PAID"
    settled = http().get(f"{faults.gateway_url}/sim/settlement").json()["transactions"]
    assert order["order_id"] in {t["orderId"] for t in settled}


def test_declined_payment_fails_the_order_through_the_requery_job(faults, new_shopper):
    faults.gateway_faults(decline_rate=1.0)
    order = new_shopper.order()
    _, confirm = new_shopper.pay(order["order_id"])
    assert confirm.json()["respCode"] == "01"
    assert new_shopper.wait_status(order["order_id"])["status"] == "FAILED"


def _paid_by_query(faults, shopper, **gateway_knobs) -> dict:
    faults.gateway_faults(**gateway_knobs)
    order = shopper.order()
    _, confirm = shopper.pay(order["order_id"])
    assert confirm.json()["respCode"] == "00"
    assert shopper.wait_status(order["order_id"])["status"] == "PAID"
    return faults.export()[order["order_id"]]


def test_lost_notifications_are_caught_by_the_requery(faults, new_shopper):
    stats = faults.gateway_stats()
    row = _paid_by_query(faults, new_shopper, notify={"loss_rate": 1.0})
    assert [p["source"] for p in row["payments"]] == ["query"] and row["notify_count"] == 0
    assert faults.gateway_stats()["notify_lost"] > stats["notify_lost"]


def test_dropped_notifications_are_caught_by_the_requery(faults, new_shopper):
    stats = faults.gateway_stats()
    row = _paid_by_query(faults, new_shopper, notify={"drop_rate": 1.0})
    assert [p["source"] for p in row["payments"]] == ["query"]
    assert faults.gateway_stats()["notify_dropped"] == stats["notify_dropped"] + 1


def test_bad_signatures_and_tampered_amounts_are_refused_by_the_shop(faults, new_shopper):
    stats = faults.gateway_stats()
    row = _paid_by_query(faults, new_shopper, bad_signature_rate=1.0)
    assert [p["source"] for p in row["payments"]] == ["query"] and row["notify_count"] == 0
    row = _paid_by_query(faults, new_shopper, bad_signature_rate=0.0, tampered_amount_rate=1.0)
    assert [p["source"] for p in row["payments"]] == ["query"] and row["notify_count"] == 0
    after = faults.gateway_stats()
    assert after["notify_bad_signature"] > stats["notify_bad_signature"]
    assert after["notify_tampered_amount"] > stats["notify_tampered_amount"]


def test_duplicated_notifications_change_state_once(faults, new_shopper):
    row = _paid_by_query(faults, new_shopper, notify={"duplicate_rate": 1.0})
    row = wait_for(lambda: (r := faults.export()[row["order_id"]])["notify_count"] == 2 and r, what="duplicate")
    assert len(row["payments"]) == 1 and row["payments"][0]["source"] == "notify"


def test_notification_delay_and_unknown_results(faults, new_shopper):
    # Queries answer 03/04/05 for 10 minutes (10 s), so only the notification can pay the order.
    faults.gateway_faults(unknown_result_rate=1.0, unknown_result_s=600,
                          notify={"delay": {"kind": "fixed", "ms": 1500}})
    order = new_shopper.order()
    _, confirm = new_shopper.pay(order["order_id"])
    confirmed = time.monotonic()
    assert confirm.json()["respCode"] == "00"
    assert new_shopper.wait_status(order["order_id"])["status"] == "PAID"
    assert time.monotonic() - confirmed >= 1.4
    assert [p["source"] for p in faults.export()[order["order_id"]]["payments"]] == ["notify"]


def test_retry_schedule_sets_the_number_of_sends(faults, new_shopper):
    stats = faults.gateway_stats()
    faults.gateway_faults(bad_signature_rate=1.0, notify={"retry_schedule_s": [0, 6, 12]})
    order = new_shopper.order()
    new_shopper.pay(order["order_id"])
    wait_for(lambda: faults.gateway_stats()["notify_attempts"] - stats["notify_attempts"] >= 3, what="sends")
    time.sleep(0.5)
    assert faults.gateway_stats()["notify_attempts"] - stats["notify_attempts"] == 3


def test_presets_through_the_admin_apis(faults):
    shop = faults.shop_faults(preset="documented-problems")
    gateway = faults.gateway_faults(preset="documented-problems")
    assert shop["cache_enabled"] is False and shop["leak_bytes_per_request"] == 4000
    assert gateway["timeout_rate_before_commit"] + gateway["timeout_rate_after_commit"] == 0.17
    assert faults.shop_faults(preset="healthy")["cache_enabled"] is True
    bad = http().post(f"{faults.gateway_url}/sim/faults", headers=faults.admin,
                      json={"timeout_rate_before_commit": 0.7, "timeout_rate_after_commit": 0.7})
    assert bad.status_code == 422 and bad.json()["field"] == "timeout_rate_after_commit"
