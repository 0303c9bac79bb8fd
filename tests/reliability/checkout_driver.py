"""A small threaded shopper for the reconciliation scenarios: register, order, pay, poll.

It speaks the platform's payment flow (docs/platform.md, "The payment flow as a shopper drives
it") with ``requests`` and writes the client journal (docs/run-directory.md, journal.jsonl)
exactly as the load generator does: what the shopper saw acknowledged. Every loop is bounded
in count and in time.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests


class Journal:
    """Append-only journal.jsonl, one flushed line per entry, safe across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, kind: str, journey_id: str, **fields) -> None:
        line = json.dumps({"t_s": time.time(), "kind": kind, "journey_id": journey_id, **fields}) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class RequestLog:
    """requests.csv in the run-directory format (the columns faults_results reads are exact)."""

    HEADER = "t_s,stage,in_ramp,name,method,response_ms,ok,status,error_kind,bytes,journey_id,worker\n"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.write_text(self.HEADER)

    def write(self, t_s: float, name: str, ok: bool, status: int, error_kind: str, response_ms: float,
              journey_id: str) -> None:
        method = name.split()[0]
        line = f"{t_s:.6f},run,0,{name},{method},{response_ms:.3f},{int(ok)},{status},{error_kind},0,{journey_id},local\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class RecordingSession(requests.Session):
    """A session that records each request (grouped name from the caller) into a RequestLog."""

    def __init__(self, log: RequestLog | None) -> None:
        super().__init__()
        self.log = log

    def call(self, method: str, url: str, name: str, journey_id: str = "", ok_statuses=(200, 201), **kwargs):
        start = time.time()
        try:
            response = self.request(method, url, **kwargs)
        except requests.Timeout:
            self._record(start, name, False, 0, "timeout", journey_id)
            raise
        except requests.RequestException:
            self._record(start, name, False, 0, "connection", journey_id)
            raise
        ok = response.status_code in ok_statuses
        kind = "" if ok else ("http_5xx" if response.status_code >= 500 else "http_4xx")
        self._record(start, name, ok, response.status_code, kind, journey_id)
        return response

    def _record(self, start, name, ok, status, kind, journey_id):
        if self.log is not None:
            self.log.write(start, name, ok, status, kind, (time.time() - start) * 1000, journey_id)


class CheckoutDriver:
    def __init__(self, shop_url: str, journal_path: Path, timeout_s: float = 5.0, poll_limit_s: float = 3.0,
                 seed: int = 7, requests_csv: Path | None = None) -> None:
        self.shop_url = shop_url.rstrip("/")
        self.journal = Journal(journal_path)
        self.request_log = RequestLog(requests_csv) if requests_csv else None
        self.timeout_s = timeout_s
        self.poll_limit_s = poll_limit_s
        self.rng = random.Random(seed)
        self.local = threading.local()
        self.product_ids: list[int] = []
        self.tokens: list[str] = []

    def _session(self) -> RecordingSession:
        if not hasattr(self.local, "session"):
            self.local.session = RecordingSession(self.request_log)
        return self.local.session

    def setup(self, users: int) -> None:
        """Register ``users`` shoppers through the SMS sandbox and read the catalogue."""
        s = self._session()
        listing = s.get(f"{self.shop_url}/api/products", params={"size": 50}, timeout=self.timeout_s)
        listing.raise_for_status()
        self.product_ids = [item["id"] for item in listing.json()["items"]]
        for i in range(users):
            phone = f"139{self.rng.randrange(10**8):08d}"
            s.post(f"{self.shop_url}/api/sms/send", json={"phone": phone}, timeout=self.timeout_s).raise_for_status()
            code = s.get(f"{self.shop_url}/sandbox/sms/{phone}", timeout=self.timeout_s).json()["code"]
            made = s.post(f"{self.shop_url}/api/users", json={"phone": phone, "code": code, "password": f"pw-{i}-secret"},
                          timeout=self.timeout_s)
            made.raise_for_status()
            self.tokens.append(made.json()["token"])

    def checkout(self, n: int) -> str:
        """One order, paid at the gateway, polled until final or ``poll_limit_s``; its outcome."""
        s = self._session()
        journey_id = f"j{n}"
        auth = {"Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}"}
        key = uuid.uuid4().hex
        body = {"items": [{"product_id": self.product_ids[n % len(self.product_ids)], "qty": 1 + n % 3}]}
        order = None
        for _ in range(2):  # a timed-out order POST is retried with the same Idempotency-Key
            try:
                r = s.call("POST", f"{self.shop_url}/api/orders", "POST /api/orders", journey_id, json=body,
                           headers={**auth, "Idempotency-Key": key}, timeout=self.timeout_s)
            except requests.RequestException:
                continue
            if r.status_code == 201:
                order = r.json()
                break
        if order is None:
            return "order_failed"
        order_id = order["order_id"]
        self.journal.write("order_acknowledged", journey_id, order_id=order_id, amount_fen=order["amount_fen"],
                           idempotency_key=key)
        try:
            r = s.call("POST", f"{self.shop_url}/api/orders/{order_id}/payment", "POST /api/orders/[id]/payment",
                       journey_id, headers=auth, timeout=self.timeout_s)
        except requests.RequestException:
            return "payment_form_failed"
        if r.status_code != 200:
            return "payment_form_failed"
        form = r.json()
        fields = form["fields"]
        try:
            r = s.call("POST", form["gateway_url"], "POST /gateway/api/frontTransReq.do", journey_id, data=fields,
                       headers={"Accept": "application/json"}, timeout=self.timeout_s)
        except requests.RequestException:
            return "gateway_refused"
        if r.status_code != 200:
            return "gateway_refused"
        self.journal.write("payment_submitted", journey_id, order_id=order_id, gateway_order_id=fields["orderId"],
                           txn_time=fields["txnTime"])
        gateway = urlsplit(form["gateway_url"])
        try:
            confirm = s.call("POST", f"{gateway.scheme}://{gateway.netloc}/gateway/cashier/confirm",
                             "POST /gateway/cashier/confirm", journey_id,
                             json={"txn_token": r.json()["txn_token"]}, timeout=self.timeout_s)
            code = str(confirm.json().get("respCode", "")) if confirm.content else ""
        except (requests.RequestException, ValueError):
            code = ""
        self.journal.write("payment_acknowledged", journey_id, order_id=order_id, respCode=code or "timeout")
        deadline = time.monotonic() + self.poll_limit_s
        status = None
        while time.monotonic() < deadline:
            try:
                r = s.call("GET", f"{self.shop_url}/api/orders/{order_id}", "GET /api/orders/[id]", journey_id,
                           headers=auth, timeout=self.timeout_s)
            except requests.RequestException:
                time.sleep(0.1)
                continue
            if r.status_code == 200:
                status = r.json()["status"]
                if status in ("PAID", "FAILED"):
                    break
            time.sleep(0.1)
        if status:
            self.journal.write("order_seen", journey_id, order_id=order_id, status=status)
        return {"PAID": "paid", "FAILED": "payment_failed"}.get(status, "unresolved")

    def run(self, first: int, count: int, threads: int, stop_after_s: float = 120.0) -> Counter:
        """Checkouts number ``first`` .. ``first + count - 1`` on ``threads`` threads; outcomes
        counted. Checkouts not started within ``stop_after_s`` seconds are counted ``skipped``."""
        deadline = time.monotonic() + stop_after_s

        def bounded(n: int) -> str:
            if time.monotonic() > deadline:
                return "skipped"
            try:
                return self.checkout(n)
            except requests.RequestException:
                return "failed"

        with ThreadPoolExecutor(threads) as pool:
            return Counter(pool.map(bounded, range(first, first + count)))
