"""Reconciliation on the real platform, on SQLite and on PostgreSQL.

GIVEN the platform with 17% gateway timeouts (half after commit), 10% lost and 10% duplicated
notifications, WHEN a few hundred shoppers order and pay, THEN reconciliation finds nothing
lost and nothing duplicated; and once the notify handler's idempotency check is switched off
(fault knob skip_notify_idempotency), it finds the double payments and names the orders.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest
import requests

from harness.execute.fault_schedule import FaultSchedule, PlatformHandle, parse_fault_tables
from harness.execute.platform_process import EmbeddedPlatform
from harness.measure.reconciliation import collect_platform_ledgers, reconciliation_results
from harness.rundir import EventLog, read_jsonl
from tests.reliability.checkout_driver import CheckoutDriver

HEALTHY_CHECKOUTS = 100
BROKEN_BATCH = 40
BROKEN_BATCHES_MAX = 4
FAULTS_TOML = """
preset = "healthy"
[gateway]
timeout_rate_before_commit = 0.085
timeout_rate_after_commit = 0.085
timeout_hold_s = 0.3
[gateway.notify]
loss_rate = 0.1
duplicate_rate = 0.1
# protocol seconds (1/60 wall s each): the largest gap sets how long the ledgers must stay quiet
retry_schedule_s = [0, 30, 60, 90, 120]
"""


def fresh_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url``; its URL."""
    import psycopg

    name = f"shop_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_args(request):
    if request.param == "sqlite":
        return ()
    return ("--database", fresh_database(request.getfixturevalue("postgres_url")))


def gateway_stats(platform) -> dict:
    return requests.get(f"{platform.endpoints.gateway_url}/sim/stats", timeout=5).json()


@pytest.mark.slow
def test_reconciliation_under_payment_faults(tmp_path, database_args):
    run_dir = tmp_path
    faults_file = tmp_path / "faults.toml"
    faults_file.write_text(FAULTS_TOML)
    platform = EmbeddedPlatform(run_dir / "platform", faults=str(faults_file),
                                extra_args=("--seed", "11", *database_args))
    started = time.monotonic()
    endpoints = platform.start()
    try:
        port_file = json.loads((run_dir / "platform" / "port.json").read_text())
        assert port_file["database"] == ("postgresql" if database_args else "sqlite")
        print(f"platform up in {time.monotonic() - started:.1f} s")
        driver = CheckoutDriver(endpoints.shop_url, run_dir / "journal.jsonl", poll_limit_s=1.5)
        driver.setup(users=8)

        # WHEN a few hundred shoppers pay through the faulty gateway on a healthy shop
        started = time.monotonic()
        outcomes = driver.run(0, HEALTHY_CHECKOUTS, threads=8)
        print(f"{HEALTHY_CHECKOUTS} checkouts in {time.monotonic() - started:.1f} s")
        collect_platform_ledgers(run_dir, endpoints.shop_url, endpoints.gateway_url, endpoints.admin_token,
                                 settle_timeout_s=30)
        healthy = reconciliation_results(run_dir)
        stats = gateway_stats(platform)

        # THEN the faults happened, and nothing was lost or paid twice
        print("healthy outcomes", dict(outcomes), "gateway", stats, "settle",
              json.loads((run_dir / "platform" / "settle.json").read_text()))
        assert stats["timeouts_after_commit"] > 0 and stats["timeouts_before_commit"] > 0
        assert stats["notify_lost"] > 0 and stats["notify_duplicated"] > 0
        assert outcomes["paid"] > HEALTHY_CHECKOUTS // 2
        assert healthy["orders_checked"] == HEALTHY_CHECKOUTS, healthy
        assert (healthy["lost"], healthy["duplicated"], healthy["mismatched"]) == (0, 0, 0), healthy["details"]
        assert healthy["settled"] is True

        # WHEN the notify handler stops checking idempotency (switched by the fault schedule)
        events = EventLog(run_dir / "events.jsonl")
        faults = parse_fault_tables([{"at_s": 0, "target": "shop", "knobs": {"skip_notify_idempotency": True}}],
                                    "scenario")
        schedule = FaultSchedule(faults, time.time(), PlatformHandle(endpoints.shop_url, endpoints.gateway_url,
                                                                     endpoints.admin_token), events.append)
        schedule.start()
        deadline = time.monotonic() + 10
        while not read_jsonl(run_dir / "events.jsonl") and time.monotonic() < deadline:
            time.sleep(0.05)
        schedule.stop(revert=False)
        (event,) = read_jsonl(run_dir / "events.jsonl")
        assert (event["knob"], event["value"], event.get("ok", True)) == ("skip_notify_idempotency", True, True)
        healthy_orders = {entry["order_id"] for entry in read_jsonl(run_dir / "journal.jsonl") if "order_id" in entry}
        # bounded: batches until the gateway has sent a few duplicate notifications (10% of them)
        duplicates_before, outcomes, checkouts = gateway_stats(platform)["notify_duplicated"], Counter(), 0
        for _ in range(BROKEN_BATCHES_MAX):
            outcomes += driver.run(HEALTHY_CHECKOUTS + checkouts, BROKEN_BATCH, threads=8)
            checkouts += BROKEN_BATCH
            if gateway_stats(platform)["notify_duplicated"] - duplicates_before >= 3:
                break
        collect_platform_ledgers(run_dir, endpoints.shop_url, endpoints.gateway_url, endpoints.admin_token,
                                 settle_timeout_s=30)
        broken = reconciliation_results(run_dir)

        # THEN reconciliation names the orders paid twice, all of them from the broken phase
        print("broken outcomes", dict(outcomes), "reconciliation", {k: v for k, v in broken.items() if k != "details"})
        assert broken["orders_checked"] == HEALTHY_CHECKOUTS + checkouts
        assert broken["duplicated"] >= 1 and broken["lost"] == 0
        export = {o["order_id"]: o for o in
                  json.loads((run_dir / "platform" / "orders-export.json").read_text())["orders"]}
        doubled = {oid for oid, o in export.items() if len(o["payments"]) > 1}
        named = {d["order_id"] for d in broken["details"] if d["kind"] == "marked_paid_twice"}
        assert named == doubled and not named & healthy_orders
        assert all(d["kind"] == "marked_paid_twice" for d in broken["details"]), broken["details"]
    finally:
        platform.stop()
