"""Helpers for the platform tests: start/stop a real `harness shop`, shoppers over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Platform:
    """A running `harness shop`: its URLs, admin token, data dir and process."""

    shop_url: str
    gateway_url: str
    admin_token: str
    data_dir: Path
    process: subprocess.Popen
    port_file: Path

    @property
    def admin(self) -> dict:
        return {"X-Admin-Token": self.admin_token}

    def shop_faults(self, **knobs) -> dict:
        response = http().post(f"{self.shop_url}/admin/faults", json=knobs, headers=self.admin, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def gateway_faults(self, **knobs) -> dict:
        response = http().post(f"{self.gateway_url}/sim/faults", json=knobs, headers=self.admin, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def reset_faults(self) -> None:
        self.shop_faults(preset="healthy")
        self.gateway_faults(preset="healthy")

    def export(self) -> dict:
        return {o["order_id"]: o for o in
                http().get(f"{self.shop_url}/admin/orders/export", headers=self.admin, timeout=30).json()["orders"]}

    def gateway_stats(self) -> dict:
        return http().get(f"{self.gateway_url}/sim/stats", timeout=10).json()

    def db_fingerprint(self, user_id: str) -> str:
        """A hash of every row of the shop database, but of orders and payments only those of
        ``user_id`` (other tests' payments may still settle in the background)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'shop.db'}?mode=ro", uri=True)
        scoped = {
            "orders": ("SELECT * FROM orders WHERE user_id = ? ORDER BY order_id", (user_id,)),
            "payments": ("SELECT * FROM payments WHERE order_id IN (SELECT order_id FROM orders"
                         " WHERE user_id = ?) ORDER BY payment_id", (user_id,)),
        }
        try:
            digest = hashlib.sha256()
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            for table in tables:
                sql, params = scoped.get(table, (f"SELECT * FROM {table} ORDER BY 1, 2", ()))
                digest.update(table.encode())
                for row in conn.execute(sql, params):
                    digest.update(repr(row).encode())
            return digest.hexdigest()
        finally:
            conn.close()


_SESSIONS: list[requests.Session] = []
_LOCAL = threading.local()


def http() -> requests.Session:
    """This thread's shared HTTP session that never uses a proxy (loopback only); closed by
    :func:`close_sessions` at the end of the test session."""
    session = getattr(_LOCAL, "session", None)
    if session is None:
        session = _LOCAL.session = new_session()
    return session


def new_session() -> requests.Session:
    """A new proxy-free session, closed by :func:`close_sessions`."""
    session = requests.Session()
    session.trust_env = False
    _SESSIONS.append(session)
    return session


def close_sessions() -> None:
    """Close every session handed out (no unclosed-socket warnings)."""
    while _SESSIONS:
        _SESSIONS.pop().close()
    _LOCAL.__dict__.clear()


_KEYS: list[Path] = []


def _test_keys(tmp: Path) -> Path:
    """One key set per test session (RSA generation costs a second per platform start)."""
    if not _KEYS:
        from services.unionpay.keys import ensure_keys

        ensure_keys(tmp.parent / "shared-test-keys")
        _KEYS.append(tmp.parent / "shared-test-keys")
    return _KEYS[0]


def start_platform(tmp: Path, *extra: str, seed: int = 7, timeout_s: float = 90.0) -> Platform:
    """Start `harness shop` with a port file under ``tmp`` and wait for the port file."""
    port_file = tmp / "port.json"
    shutil.copytree(_test_keys(tmp), tmp / "data" / "keys")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp / "harness-shop.out", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness", "shop", "--port", "0", "--port-file", str(port_file),
             "--data-dir", str(tmp / "data"), "--seed", str(seed), *extra],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while not port_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"harness shop exited {process.returncode}: {(tmp / 'harness-shop.out').read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("harness shop did not write its port file in time")
        time.sleep(0.05)
    info = json.loads(port_file.read_text())
    return Platform(info["shop_url"], info["gateway_url"], info["admin_token"], Path(info["data_dir"]),
                    process, port_file)


def stop_platform(platform: Platform) -> int:
    """SIGTERM `harness shop`, wait for it; its exit code."""
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGTERM)
    try:
        return platform.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        platform.process.kill()
        return platform.process.wait()


@dataclass
class Shopper:
    """A registered, logged-in shopper: an HTTP session with its bearer token."""

    shop_url: str
    phone: str
    user_id: str
    session: requests.Session

    def get(self, path: str, **kw) -> requests.Response:
        return self.session.get(f"{self.shop_url}{path}", timeout=kw.pop("timeout", 15), **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.session.post(f"{self.shop_url}{path}", timeout=kw.pop("timeout", 15), **kw)

    def patch(self, path: str, **kw) -> requests.Response:
        return self.session.patch(f"{self.shop_url}{path}", timeout=kw.pop("timeout", 15), **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.session.delete(f"{self.shop_url}{path}", timeout=kw.pop("timeout", 15), **kw)

    def order(self, items: list[dict] | None = None, key: str | None = None) -> dict:
        body = {"items": items or [{"product_id": 1, "qty": 1}]}
        response = self.post("/api/orders", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})
        assert response.status_code == 201, response.text
        return response.json()

    def pay(self, order_id: str) -> tuple[dict, requests.Response]:
        """Payment form → front request → confirm; (the form, the confirm response)."""
        form = self.post(f"/api/orders/{order_id}/payment").json()
        s = http()
        front = s.post(form["gateway_url"], data=form["fields"], headers={"Accept": "application/json"}, timeout=15)
        assert front.status_code == 200, front.text
        base = form["gateway_url"].split("/gateway/")[0]
        confirm = s.post(f"{base}/gateway/cashier/confirm", json={"txn_token": front.json()["txn_token"]}, timeout=30)
        return form, confirm

    def wait_status(self, order_id: str, statuses=("PAID", "FAILED"), timeout_s: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            order = self.get(f"/api/orders/{order_id}").json()
            if order["status"] in statuses or time.monotonic() > deadline:
                return order
            time.sleep(0.05)


_PHONE_COUNTER = [int(time.time() * 1000) % 10**9]


def new_phone() -> str:
    """A fresh valid phone number (distinct within the session)."""
    _PHONE_COUNTER[0] += 1
    return f"13{_PHONE_COUNTER[0] % 10**9:09d}"


def register_shopper(shop_url: str) -> Shopper:
    """Register a new shopper through the SMS sandbox and log in."""
    s = new_session()
    phone = new_phone()
    assert s.post(f"{shop_url}/api/sms/send", json={"phone": phone}, timeout=15).status_code == 202
    code = s.get(f"{shop_url}/sandbox/sms/{phone}", timeout=15).json()["code"]
    created = s.post(f"{shop_url}/api/users", json={"phone": phone, "code": code, "password": "secret-pass"},
                     timeout=15)
    assert created.status_code == 201, created.text
    s.headers["Authorization"] = f"Bearer {created.json()['token']}"
    return Shopper(shop_url, phone, created.json()["user_id"], s)
