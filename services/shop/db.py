"""The shop's storage: SQLite (WAL) by default, PostgreSQL through psycopg for a database URL.

One connection per process. Handlers are coroutines that run their SQL without awaiting in
between, so within a process a transaction is never interleaved with another; across forked
workers SQLite's write lock (BEGIN IMMEDIATE) and PostgreSQL's row locks do the rest. SQL is
written once with ``?`` placeholders and rewritten to ``%s`` for psycopg.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from services.shop import catalogue

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, category_id INTEGER NOT NULL,"
    " name TEXT NOT NULL, description TEXT NOT NULL, price_fen BIGINT NOT NULL,"
    " stock INTEGER NOT NULL, image_count INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS products_category ON products (category_id, id)",
    "CREATE TABLE IF NOT EXISTS users (user_id TEXT PRIMARY KEY, phone TEXT NOT NULL UNIQUE,"
    " password_hash TEXT NOT NULL, created_t_s DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " created_t_s DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sms_codes (phone TEXT PRIMARY KEY, code TEXT NOT NULL,"
    " sent_t_s DOUBLE PRECISION NOT NULL, expires_t_s DOUBLE PRECISION NOT NULL,"
    " tries_left INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cart_items (user_id TEXT NOT NULL, product_id INTEGER NOT NULL,"
    " qty INTEGER NOT NULL, PRIMARY KEY (user_id, product_id))",
    "CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
    " status TEXT NOT NULL, amount_fen BIGINT NOT NULL, items_json TEXT NOT NULL,"
    " idem_key TEXT NOT NULL, body_hash TEXT NOT NULL, created_t_s DOUBLE PRECISION NOT NULL,"
    " paying_t_s DOUBLE PRECISION, paid_t_s DOUBLE PRECISION, failed_t_s DOUBLE PRECISION,"
    " txn_time TEXT, pay_deadline_t_s DOUBLE PRECISION, form_json TEXT, query_id TEXT,"
    " notify_count INTEGER NOT NULL DEFAULT 0, query_count INTEGER NOT NULL DEFAULT 0,"
    " next_query_t_s DOUBLE PRECISION, UNIQUE (user_id, idem_key))",
    "CREATE INDEX IF NOT EXISTS orders_paying ON orders (status, next_query_t_s)",
    "CREATE TABLE IF NOT EXISTS payments (payment_id TEXT PRIMARY KEY, order_id TEXT NOT NULL,"
    " query_id TEXT NOT NULL, amount_fen BIGINT NOT NULL, source TEXT NOT NULL,"
    " applied_t_s DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS payments_order ON payments (order_id)",
)


class IntegrityError(Exception):
    """A uniqueness constraint refused a write (both backends)."""


class Database:
    """A thin portable wrapper: :meth:`all`, :meth:`one`, :meth:`run`, :meth:`transaction`."""

    def __init__(self, url: str, data_dir: Path):
        self.sql_s = 0.0  # seconds spent executing SQL (shop_db_seconds_total{part="sql"})
        self.is_postgres = url.startswith(("postgresql://", "postgres://"))
        if self.is_postgres:
            import psycopg

            self._integrity = (psycopg.errors.UniqueViolation,)
            self.conn = psycopg.connect(url, autocommit=True)
        else:
            self._integrity = (sqlite3.IntegrityError,)
            path = Path(url) if url else Path(data_dir) / "shop.db"
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                        timeout=10.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=10000")

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.is_postgres else sql

    def all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        """Every row of a query."""
        started = time.perf_counter()
        try:
            return list(self.conn.execute(self._sql(sql), tuple(params)).fetchall())
        finally:
            self.sql_s += time.perf_counter() - started

    def one(self, sql: str, params: Sequence = ()) -> tuple | None:
        """The first row of a query, or None."""
        started = time.perf_counter()
        try:
            return self.conn.execute(self._sql(sql), tuple(params)).fetchone()
        finally:
            self.sql_s += time.perf_counter() - started

    def run(self, sql: str, params: Sequence = ()) -> int:
        """Execute a write; the number of rows it changed."""
        started = time.perf_counter()
        try:
            return self.conn.execute(self._sql(sql), tuple(params)).rowcount
        except self._integrity as error:
            raise IntegrityError(str(error)) from error
        finally:
            self.sql_s += time.perf_counter() - started

    def _timed(self, sql: str) -> None:
        started = time.perf_counter()
        try:
            self.conn.execute(sql)
        finally:
            self.sql_s += time.perf_counter() - started

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction (BEGIN IMMEDIATE on SQLite): commit on success, else roll back.
        Waiting for SQLite's write lock is SQL time too."""
        self._timed("BEGIN IMMEDIATE" if not self.is_postgres else "BEGIN")
        try:
            yield self
        except BaseException:
            self._timed("ROLLBACK")
            raise
        self._timed("COMMIT")

    def setup(self, seed: int) -> None:
        """Create the tables if missing and seed the catalogue if it is empty."""
        with self.transaction():
            for statement in SCHEMA:
                self.conn.execute(statement)
            if self.one("SELECT COUNT(*) FROM products")[0] == 0:
                cur = self.conn.cursor()
                cur.executemany(self._sql("INSERT INTO categories (id, name) VALUES (?, ?)"),
                                catalogue.categories())
                cur.executemany(self._sql(
                    "INSERT INTO products (id, category_id, name, description, price_fen, stock,"
                    " image_count) VALUES (?, ?, ?, ?, ?, ?, ?)"), catalogue.products(seed))

    def close(self) -> None:
        self.conn.close()
