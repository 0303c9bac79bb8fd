"""A tiny stand-in for the platform's admin and ledger routes, served over real HTTP on loopback.

Only what the fault schedule and the ledger collection touch: ``GET/POST /admin/faults``,
``GET/POST /sim/faults`` (partial objects merged), ``GET /admin/orders/export``,
``GET /sim/settlement``, ``GET /sim/stats``. Tests mutate ``state`` while it runs.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN_TOKEN = "stub-token"


class StubPlatform:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = {
            "/admin/faults": {"error_rate": {}, "cache_enabled": True, "skip_notify_idempotency": False},
            "/sim/faults": {"timeout_rate_before_commit": 0.0, "timeout_rate_after_commit": 0.0,
                            "notify": {"loss_rate": 0.0, "duplicate_rate": 0.0, "retry_schedule_s": [0, 1]}},
            "/admin/orders/export": {"orders": []},
            "/sim/settlement": {"settle_date": "1128", "transactions": []},
            "/sim/stats": {"commits": 0, "notify_attempts": 0},
        }
        self.posts: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path not in stub.state:
                    return self._send(404, {"error": "not found"})
                if self.headers.get("X-Admin-Token") != ADMIN_TOKEN and self.path != "/sim/settlement":
                    return self._send(401, {"error": "admin token"})
                with stub.lock:
                    self._send(200, stub.state[self.path])

            def do_POST(self):
                if self.path not in ("/admin/faults", "/sim/faults"):
                    return self._send(404, {"error": "not found"})
                if self.headers.get("X-Admin-Token") != ADMIN_TOKEN:
                    return self._send(401, {"error": "admin token"})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    if "bogus" in body:
                        return self._send(422, {"error": "unknown knob", "field": "bogus"})
                    stub.posts.append((self.path, body))
                    stub.state[self.path].update(body)
                    self._send(200, stub.state[self.path])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubPlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
