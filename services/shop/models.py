"""Request bodies of the shop API (strict: a string is not a number)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Phone = Annotated[str, Field(pattern=r"^1[0-9]{10}$")]
Qty = Annotated[int, Field(ge=1, le=99)]
ProductId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True)


class SmsSend(Strict):
    phone: Phone


class NewUser(Strict):
    phone: Phone
    code: Annotated[str, Field(pattern=r"^[0-9]{6}$")]
    password: Annotated[str, Field(min_length=8, max_length=128)]


class Login(Strict):
    phone: Phone
    password: Annotated[str, Field(min_length=1, max_length=128)]


class CartAdd(Strict):
    product_id: ProductId
    qty: Qty


class CartSet(Strict):
    qty: Qty


class OrderLine(Strict):
    product_id: ProductId
    qty: Qty


class OrderBody(Strict):
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=50)] | None = None


class PaymentBody(Strict):
    channel_type: Annotated[str, Field(pattern=r"^0[78]$")] = "07"
