"""Catalogue reads: categories, product lists and search, product detail, images."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from fastapi.responses import Response

from services.shop import catalogue
from services.shop.context import ShopContext
from services.web import error

MAX_ID = 2_147_483_647


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def register(app: FastAPI, ctx: ShopContext) -> None:
    """Add the catalogue routes to ``app``."""

    @app.get("/api/categories")
    async def list_categories():
        cached = ctx.cache_get("list", "categories")
        if cached is not None:
            return cached
        await ctx.db_read_delay()
        rows = ctx.db.all("SELECT c.id, c.name, COUNT(p.id) FROM categories c LEFT JOIN products p"
                          " ON p.category_id = c.id GROUP BY c.id, c.name ORDER BY c.id")
        result = {"items": [{"id": r[0], "name": r[1], "product_count": r[2]} for r in rows]}
        if ctx.knobs.cache_enabled:
            ctx.list_cache.put("categories", result)
        return result

    @app.get("/api/products")
    async def list_products(
        category: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 20,
    ):
        key = (category, q, page, size)
        cached = ctx.cache_get("list", key)
        if cached is not None:
            return cached
        where, params = [], []
        if category is not None:
            where.append("category_id = ?")
            params.append(category)
        if q:
            where.append("LOWER(name) LIKE ? ESCAPE '\\'")
            params.append(f"%{_escape_like(q.lower())}%")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        await ctx.db_read_delay()
        total = ctx.db.one(f"SELECT COUNT(*) FROM products{clause}", params)[0]
        rows = ctx.db.all(f"SELECT id, name, category_id, price_fen FROM products{clause}"
                          " ORDER BY id LIMIT ? OFFSET ?", [*params, size, (page - 1) * size])
        result = {"items": [{"id": r[0], "name": r[1], "category_id": r[2], "price_fen": r[3],
                             "thumbnail_url": catalogue.thumbnail_url(r[0])} for r in rows],
                  "page": page, "size": size, "total": total}
        if ctx.knobs.cache_enabled:
            ctx.list_cache.put(key, result)
        return result

    @app.get("/api/products/{id}")
    async def product_detail(id: int):
        if not 1 <= id <= MAX_ID:
            raise error(404, "no such product", "id")
        cached = ctx.cache_get("product", id)
        if cached is not None:
            return cached
        await ctx.db_read_delay()
        row = ctx.db.one("SELECT p.id, p.name, p.category_id, c.name, p.description, p.price_fen, p.stock,"
                         " p.image_count FROM products p JOIN categories c ON c.id = p.category_id"
                         " WHERE p.id = ?", (id,))
        if row is None:
            raise error(404, "no such product", "id")
        result = {"id": row[0], "name": row[1], "category_id": row[2], "category": row[3],
                  "description": row[4], "price_fen": row[5], "stock": row[6],
                  "image_urls": catalogue.image_urls(row[0], row[7])}
        if ctx.knobs.cache_enabled:
            ctx.product_cache.put(id, result)
        return result

    @app.get("/static/img/{name}")
    async def image(name: str):
        data = catalogue.image_bytes(name, ctx.config.seed) if len(name) <= 40 else None
        if data is None:
            raise error(404, "no such image", "name")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})
