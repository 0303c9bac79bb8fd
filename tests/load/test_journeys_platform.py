"""The journeys, driven without Locust (requests client) against the real platform."""

from __future__ import annotations

import random
import time

from loadtests.records import Recorder, RunWriter
from scenarios.http_client import RequestsClient
from scenarios.journeys import browse, cart, checkout, product_page, register, run_visit
from scenarios.mix import Mix
from scenarios.visit import AccountBook, JourneyFailed, Visit

EVERYTHING = Mix(register_share=1.0, cart_share=1.0, checkout_share_of_carts=1.0, think_s_min=0.0,
                 think_s_max=0.0)


class Sink:
    """Collects journey rows and journal entries (the Recorder's signature)."""

    def __init__(self):
        self.journeys, self.entries = [], []

    def journey(self, journey_id, visit_id, name, stage, in_ramp, intended_t_s, start_t_s, end_t_s, ok, outcome,
                flags=(), sync_lag_ms=None):
        self.journeys.append({"journey_id": journey_id, "visit_id": visit_id, "name": name, "ok": ok,
                              "outcome": outcome, "flags": list(flags), "sync_lag_ms": sync_lag_ms,
                              "intended_t_s": intended_t_s, "start_t_s": start_t_s, "end_t_s": end_t_s})

    def journal(self, entry):
        self.entries.append(entry)


def make_visit(platform, sink, requests_seen, seed=1, accounts=None, journey_timeout_s=10.0):
    def record(*row):
        requests_seen.append(row)

    client = RequestsClient(platform["shop_url"], record)
    now = time.time()
    return Visit(client=client, sink=sink, rng=random.Random(seed), clock=time.time, sleep=time.sleep,
                 visit_id=f"t{seed}", stage="100%", in_ramp=False, intended_t_s=now - 0.5, start_t_s=now,
                 accounts=accounts if accounts is not None else AccountBook(), time_scale=0.25, journey_timeout_s=journey_timeout_s)


def test_browse_records_product_pages_with_images(platform):
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen)
    browse(visit, Mix(products_min=3, products_max=3))
    pages = [j for j in sink.journeys if j["name"] == "product_page"]
    assert len(pages) == 3 and all(j["ok"] for j in pages)
    assert sink.journeys[-1]["name"] == "browse" and sink.journeys[-1]["ok"]
    names = [row[3] for row in seen]
    assert names.count("GET /api/products/[id]") == 3
    assert names.count("GET /static/img/[name]") >= 6  # 2-4 images per product
    assert "GET /api/products?q=[q]" in names
    assert all(row[6] for row in seen)  # every request ok
    # the visit waited 0.5 s to start: each journey's intended start carries that wait
    assert all(abs((j["start_t_s"] - j["intended_t_s"]) - 0.5) < 1e-6 for j in sink.journeys)
    assert len(visit.product_ids) == 3


def test_register_with_sms_reentry_then_login(platform):
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen)
    register(visit, Mix(sms_reentry_share=1.0))
    row = sink.journeys[-1]
    assert row["outcome"] == "registered" and row["flags"] == ["sms_reentry"]
    statuses = [(r[3], r[7], r[6]) for r in seen]
    assert ("POST /api/users", 400, True) in statuses  # the wrong code: expected, not a failure
    assert ("POST /api/users", 201, True) in statuses
    assert visit.token and visit.account is not None


def test_cart_and_checkout_pay_and_journal(platform):
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen)
    browse(visit, Mix(products_min=2, products_max=2))
    register(visit, Mix(sms_reentry_share=0.0))
    cart(visit, Mix(cart_items_min=2, cart_items_max=2, cart_remove_share=1.0))
    assert checkout(visit) == "paid"
    row = sink.journeys[-1]
    assert row["name"] == "checkout" and row["outcome"] == "paid" and row["ok"]
    assert row["sync_lag_ms"] is not None and row["sync_lag_ms"] >= 0
    kinds = [e["kind"] for e in sink.entries]
    assert kinds[:3] == ["order_acknowledged", "payment_submitted", "payment_acknowledged"]
    assert sink.entries[-1]["kind"] == "order_seen" and sink.entries[-1]["status"] == "PAID"
    assert sink.entries[0]["amount_fen"] > 0 and sink.entries[2]["respCode"] == "00"
    assert "DELETE /api/cart/items/[product_id]" in [r[3] for r in seen]


def test_gateway_timeout_after_commit_still_pays(platform, set_faults):
    set_faults(gateway={"timeout_rate_after_commit": 1.0, "timeout_hold_s": 0.2})
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen)
    run_visit(visit, EVERYTHING)
    checkout_row = [j for j in sink.journeys if j["name"] == "checkout"][0]
    assert checkout_row["flags"] == ["gateway_timeout"] and checkout_row["outcome"] == "paid"
    confirm = [r for r in seen if r[3] == "POST /gateway/cashier/confirm"][0]
    assert confirm[7] == 504 and confirm[8] == "http_5xx"
    assert sink.journeys[-1]["name"] == "visit" and sink.journeys[-1]["outcome"] == "completed"


def test_gateway_timeout_before_commit_fails_the_payment(platform, set_faults):
    set_faults(gateway={"timeout_rate_before_commit": 1.0, "timeout_hold_s": 0.2})
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen, journey_timeout_s=20.0)
    assert run_visit(visit, EVERYTHING) == "failed"
    checkout_row = [j for j in sink.journeys if j["name"] == "checkout"][0]
    assert checkout_row["outcome"] == "payment_failed" and not checkout_row["ok"]
    assert sink.entries[-1]["status"] == "FAILED"


def test_unresolved_checkout_times_the_visit_out(platform, set_faults):
    set_faults(gateway={"timeout_rate_before_commit": 1.0, "timeout_hold_s": 0.2})
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen, journey_timeout_s=1.0)  # shorter than payTimeout
    assert run_visit(visit, EVERYTHING) == "timeout"
    assert [j["outcome"] for j in sink.journeys if j["name"] == "checkout"] == ["unresolved"]


def test_failed_request_fails_journey_and_visit(platform, set_faults, tmp_path):
    set_faults(shop={"error_rate": {"GET /api/products/[id]": 1.0}})
    writer = RunWriter(tmp_path)
    recorder = Recorder("local", writer)
    visit = make_visit(platform, recorder, [])
    visit.client = RequestsClient(platform["shop_url"], recorder.request)
    assert run_visit(visit, EVERYTHING) == "failed"
    writer.close()
    rows = (tmp_path / "requests.csv").read_text().splitlines()
    failed = [r for r in rows if "GET /api/products/[id]" in r]
    assert len(failed) == 1 and ",0,503,http_5xx," in failed[0]
    journeys = (tmp_path / "journeys.csv").read_text()
    assert ",product_page,100%,0," in journeys and ",0,failed," in journeys


def test_product_page_unknown_product_is_a_failure(platform):
    sink, seen = Sink(), []
    visit = make_visit(platform, sink, seen)
    try:
        product_page(visit, 999_999_999)
    except JourneyFailed as failure:
        assert failure.reply.status == 404 and failure.reply.error_kind == "http_4xx"
    else:
        raise AssertionError("an unknown product must fail the journey")
    assert sink.journeys[-1]["outcome"] == "failed"


def test_returning_customer_logs_in_with_a_borrowed_account(platform):
    accounts = AccountBook()
    sink, seen = Sink(), []
    run_visit(make_visit(platform, sink, seen, seed=1, accounts=accounts),
              Mix(register_share=1.0, cart_share=0.0, think_s_min=0, think_s_max=0))
    assert len(accounts) == 1
    seen.clear()
    assert run_visit(make_visit(platform, sink, seen, seed=2, accounts=accounts),
                     Mix(register_share=0.0, cart_share=1.0, checkout_share_of_carts=0.0, think_s_min=0,
                         think_s_max=0)) == "completed"
    names = [r[3] for r in seen]
    assert "POST /api/sessions" in names and "POST /api/sms/send" not in names
    assert len(accounts) == 1  # given back
