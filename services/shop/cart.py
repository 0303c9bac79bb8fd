"""The shopper's cart (bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path, Request

from services.shop.context import ShopContext
from services.shop.models import CartAdd, CartSet
from services.web import error

MAX_QTY = 99
ProductPath = Annotated[int, Path(ge=1, le=2_147_483_647)]


def cart_view(ctx: ShopContext, user_id: str) -> dict:
    """The cart as the API returns it."""
    rows = ctx.db.all("SELECT c.product_id, p.name, c.qty, p.price_fen FROM cart_items c"
                      " JOIN products p ON p.id = c.product_id WHERE c.user_id = ? ORDER BY c.product_id",
                      (user_id,))
    items = [{"product_id": r[0], "name": r[1], "qty": r[2], "price_fen": r[3], "line_fen": r[2] * r[3]}
             for r in rows]
    return {"items": items, "total_fen": sum(i["line_fen"] for i in items)}


def register(app: FastAPI, ctx: ShopContext) -> None:
    """Add the cart routes to ``app``."""

    @app.get("/api/cart")
    async def get_cart(request: Request):
        return cart_view(ctx, await ctx.user_id(request))

    @app.post("/api/cart/items")
    async def add_item(request: Request, body: CartAdd):
        user_id = await ctx.user_id(request)
        with ctx.db.transaction() as db:
            if db.one("SELECT 1 FROM products WHERE id = ?", (body.product_id,)) is None:
                raise error(404, "no such product", "product_id")
            db.run("INSERT INTO cart_items (user_id, product_id, qty) VALUES (?, ?, ?)"
                   " ON CONFLICT (user_id, product_id) DO UPDATE SET"
                   " qty = MIN(cart_items.qty + excluded.qty, ?)" if not db.is_postgres else
                   "INSERT INTO cart_items (user_id, product_id, qty) VALUES (?, ?, ?)"
                   " ON CONFLICT (user_id, product_id) DO UPDATE SET"
                   " qty = LEAST(cart_items.qty + excluded.qty, ?)",
                   (user_id, body.product_id, body.qty, MAX_QTY))
        return cart_view(ctx, user_id)

    @app.patch("/api/cart/items/{product_id}")
    async def set_item(request: Request, product_id: ProductPath, body: CartSet):
        user_id = await ctx.user_id(request)
        with ctx.db.transaction() as db:
            if db.run("UPDATE cart_items SET qty = ? WHERE user_id = ? AND product_id = ?",
                      (body.qty, user_id, product_id)) == 0:
                raise error(404, "product not in cart", "product_id")
        return cart_view(ctx, user_id)

    @app.delete("/api/cart/items/{product_id}")
    async def delete_item(request: Request, product_id: ProductPath):
        user_id = await ctx.user_id(request)
        with ctx.db.transaction() as db:
            if db.run("DELETE FROM cart_items WHERE user_id = ? AND product_id = ?", (user_id, product_id)) == 0:
                raise error(404, "product not in cart", "product_id")
        return cart_view(ctx, user_id)
