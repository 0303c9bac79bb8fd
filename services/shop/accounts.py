"""SMS codes, registration and login."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI

from services.shop.context import ShopContext
from services.shop.db import IntegrityError
from services.shop.models import Login, NewUser, SmsSend
from services.web import error

SMS_RESEND_S = 60.0
SMS_VALID_S = 300.0
SMS_TRIES = 3
# scrypt cost: 2**14 × 8 (16 MiB, tens of ms), run in a thread so the event loop stays free.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# Two threads only: each scrypt call needs a 16 MiB buffer, and glibc keeps freed buffers in
# per-thread arenas; an unbounded pool would add 16 MiB of resident memory per thread it grows.
_PASSWORD_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scrypt")


async def _in_password_pool(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(_PASSWORD_POOL, fn, *args)


def hash_password(password: str) -> str:
    """``scrypt$<salt hex>$<hash hex>`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a :func:`hash_password` string (constant-time compare)."""
    _, salt_hex, digest_hex = stored.split("$")
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=SCRYPT_N, r=SCRYPT_R,
                            p=SCRYPT_P, dklen=32)
    return hmac.compare_digest(digest.hex(), digest_hex)


def register(app: FastAPI, ctx: ShopContext) -> None:
    """Add the account routes to ``app``."""

    @app.post("/api/sms/send", status_code=202)
    async def sms_send(body: SmsSend):
        now = ctx.now()
        with ctx.db.transaction() as db:
            row = db.one("SELECT sent_t_s FROM sms_codes WHERE phone = ?", (body.phone,))
            if row is not None and now - row[0] < SMS_RESEND_S:
                raise error(429, "code resent too soon", "phone",
                            retry_after_s=round(SMS_RESEND_S - (now - row[0]), 3))
            code = f"{secrets.randbelow(1_000_000):06d}"
            db.run("INSERT INTO sms_codes (phone, code, sent_t_s, expires_t_s, tries_left)"
                   " VALUES (?, ?, ?, ?, ?) ON CONFLICT (phone) DO UPDATE SET code = excluded.code,"
                   " sent_t_s = excluded.sent_t_s, expires_t_s = excluded.expires_t_s,"
                   " tries_left = excluded.tries_left",
                   (body.phone, code, now, now + SMS_VALID_S, SMS_TRIES))
        return {"phone": body.phone, "expires_in_s": SMS_VALID_S, "resend_after_s": SMS_RESEND_S}

    @app.get("/sandbox/sms/{phone}")
    async def sandbox_sms(phone: str):
        if not ctx.knobs.sms_sandbox:
            raise error(404, "sandbox outbox is off", None)
        row = ctx.db.one("SELECT code, sent_t_s, expires_t_s, tries_left FROM sms_codes WHERE phone = ?",
                         (phone[:20],))
        if row is None:
            raise error(404, "no code sent to this phone", "phone")
        return {"phone": phone, "code": row[0], "sent_t_s": row[1], "expires_t_s": row[2], "tries_left": row[3]}

    @app.post("/api/users", status_code=201)
    async def create_user(body: NewUser):
        if ctx.db.one("SELECT 1 FROM users WHERE phone = ?", (body.phone,)):
            raise error(409, "phone already registered", "phone")
        now = ctx.now()
        with ctx.db.transaction() as db:
            row = db.one("SELECT code, expires_t_s, tries_left FROM sms_codes WHERE phone = ?", (body.phone,))
            if row is None:
                raise error(400, "no code was sent to this phone", "code", tries_left=0)
            code, expires_t_s, tries_left = row
            if tries_left <= 0:
                raise error(400, "too many wrong tries: request a new code", "code", tries_left=0)
            if now > expires_t_s:
                raise error(400, "code expired: request a new code", "code", tries_left=0)
            if not hmac.compare_digest(code, body.code):
                # A wrong try is counted (the one write bad input makes, by design).
                db.run("UPDATE sms_codes SET tries_left = tries_left - 1 WHERE phone = ?", (body.phone,))
                wrong = error(400, "wrong code", "code", tries_left=tries_left - 1)
            else:
                db.run("DELETE FROM sms_codes WHERE phone = ?", (body.phone,))
                wrong = None
        if wrong is not None:
            raise wrong
        password_hash = await _in_password_pool(hash_password, body.password)
        user_id, token = "U" + secrets.token_hex(8), secrets.token_urlsafe(32)
        try:
            with ctx.db.transaction() as db:
                db.run("INSERT INTO users (user_id, phone, password_hash, created_t_s) VALUES (?, ?, ?, ?)",
                       (user_id, body.phone, password_hash, now))
                db.run("INSERT INTO sessions (token, user_id, created_t_s) VALUES (?, ?, ?)", (token, user_id, now))
        except IntegrityError:
            raise error(409, "phone already registered", "phone") from None
        return {"user_id": user_id, "token": token}

    @app.post("/api/sessions")
    async def login(body: Login):
        row = ctx.db.one("SELECT user_id, password_hash FROM users WHERE phone = ?", (body.phone,))
        ok = row is not None and await _in_password_pool(check_password, body.password, row[1])
        if not ok:
            raise error(401, "wrong phone or password", "password")
        token = secrets.token_urlsafe(32)
        with ctx.db.transaction() as db:
            db.run("INSERT INTO sessions (token, user_id, created_t_s) VALUES (?, ?, ?)", (token, row[0], ctx.now()))
        return {"user_id": row[0], "token": token}
