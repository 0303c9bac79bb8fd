"""The gateway's ledger of transactions and its counters (one gateway process).

Committed transactions are also appended to a journal file in the data directory and read back
at start, so a gateway restarted after a crash still answers queries and lists its settlement
for payments it committed before (a bank does not forget a charge when a server restarts).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Transaction:
    """One purchase as the gateway knows it. ``state``: pending → committed | declined."""

    order_id: str
    txn_time: str
    txn_amt: str
    back_url: str
    req_reserved: str
    sign_method: str
    pay_deadline_t_s: float | None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    state: str = "pending"
    query_id: str = ""
    commit_t_s: float = 0.0
    unknown_until_t_s: float = 0.0
    trace_no: str = ""


@dataclass
class Ledger:
    """Transactions by token and by orderId, plus the counters served at /sim/stats."""

    by_token: dict[str, Transaction] = field(default_factory=dict)
    by_order: dict[str, Transaction] = field(default_factory=dict)
    stats: Counter = field(default_factory=Counter)
    next_query_no: int = 1

    journal_path: Path | None = None

    def record_commit(self, txn: Transaction) -> None:
        """Append a committed transaction to the journal file (when one is configured)."""
        if self.journal_path is None:
            return
        with self.journal_path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(dataclasses.asdict(txn)) + "\n")

    def load_journal(self, path: Path) -> None:
        """Read committed transactions back from ``path`` and keep appending to it."""
        self.journal_path = path
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                txn = Transaction(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line torn by a crash mid-write: the rest still counts
            self.by_order[txn.order_id] = txn
            self.by_token[txn.token] = txn
            self.next_query_no = max(self.next_query_no, int(txn.query_id[-7:] or 0) + 1)

    def new_query_id(self, now_stamp: str) -> str:
        """A 21-character queryId: the China-time stamp plus a 7-digit sequence."""
        self.next_query_no += 1
        return f"{now_stamp}{self.next_query_no % 10_000_000:07d}"

    def settlement(self) -> list[dict]:
        """Every committed transaction, ordered by commit time."""
        committed = [t for t in self.by_order.values() if t.state == "committed"]
        committed.sort(key=lambda t: t.commit_t_s)
        return [{"orderId": t.order_id, "txnTime": t.txn_time, "txnAmt": t.txn_amt,
                 "queryId": t.query_id, "status": "00", "commit_t_s": t.commit_t_s}
                for t in committed]


STAT_NAMES = ("front_requests", "confirms", "commits", "declines", "timeouts_before_commit",
              "timeouts_after_commit", "queries", "notify_attempts", "notify_delivered",
              "notify_lost", "notify_duplicated", "notify_bad_signature", "notify_tampered_amount",
              "notify_dropped")
