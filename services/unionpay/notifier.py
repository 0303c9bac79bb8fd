"""Asynchronous notifications to the merchant's backUrl, with loss, duplication, delay and
signature faults, on the retry schedule (protocol seconds × time scale)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable

import httpx

from services.faults import GatewayKnobs
from services.unionpay.keys import MER_ID, KeyMaterial
from services.unionpay.protocol import RESP_MSG, china_stamp, sign_as_gateway
from services.unionpay.state import Transaction

NOTIFY_TIMEOUT_S = 10.0


def notification_fields(txn: Transaction, keys: KeyMaterial, tamper_amount: bool = False) -> dict:
    """The signed form a merchant receives for a committed transaction."""
    amount = str(int(txn.txn_amt) + 1) if tamper_amount else txn.txn_amt
    stamp = china_stamp(txn.commit_t_s)
    fields = {
        "version": "5.1.0", "encoding": "UTF-8", "signMethod": txn.sign_method, "txnType": "01",
        "txnSubType": "01", "bizType": "000201", "accessType": "0", "merId": MER_ID,
        "orderId": txn.order_id, "txnTime": txn.txn_time, "txnAmt": amount, "currencyCode": "156",
        "queryId": txn.query_id, "traceNo": txn.trace_no, "traceTime": stamp[4:],
        "settleAmt": amount, "settleCurrencyCode": "156", "settleDate": stamp[4:8],
        "respCode": "00", "respMsg": RESP_MSG["00"], "reqReserved": txn.req_reserved,
    }
    return sign_as_gateway(fields, keys)


class Notifier:
    """Sends each committed transaction's notification as a background task."""

    def __init__(self, keys: KeyMaterial, knobs: Callable[[], GatewayKnobs], time_scale: float,
                 rng: random.Random, stats: Counter):
        self.keys, self.knobs, self.time_scale = keys, knobs, time_scale
        self.rng, self.stats = rng, stats
        self.tasks: set[asyncio.Task] = set()
        self.client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self.client = httpx.AsyncClient(timeout=NOTIFY_TIMEOUT_S, trust_env=False)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client:
            await self.client.aclose()

    def schedule(self, txn: Transaction) -> None:
        """Queue the notification sends of a just-committed transaction."""
        task = asyncio.get_running_loop().create_task(self._run(txn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, url: str, fields: dict) -> bool:
        assert self.client is not None
        self.stats["notify_attempts"] += 1
        try:
            response = await self.client.post(url, data=fields)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _run(self, txn: Transaction) -> None:
        knobs = self.knobs()
        if self.rng.random() < knobs.notify_drop_rate:
            self.stats["notify_dropped"] += 1
            return
        start = time.time() + knobs.notify_delay.sample_ms(self.rng) / 1000.0
        for offset_s in knobs.notify_retry_schedule_s:
            wait = start + offset_s * self.time_scale - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            knobs = self.knobs()
            if self.rng.random() < knobs.notify_loss_rate:
                self.stats["notify_lost"] += 1
                continue
            tamper = self.rng.random() < knobs.tampered_amount_rate
            bad_sig = self.rng.random() < knobs.bad_signature_rate
            fields = notification_fields(txn, self.keys, tamper_amount=tamper)
            if bad_sig:
                fields["signature"] = "0" * 64 if txn.sign_method == "11" else "AAAA" + fields["signature"][4:]
            self.stats["notify_tampered_amount"] += tamper
            self.stats["notify_bad_signature"] += bad_sig
            if await self._send(txn.back_url, fields):
                self.stats["notify_delivered"] += 1
                if self.rng.random() < knobs.notify_duplicate_rate:
                    self.stats["notify_duplicated"] += 1
                    await self._send(txn.back_url, notification_fields(txn, self.keys))
                return
