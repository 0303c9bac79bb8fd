"""The traffic mix: how one visit combines journeys (scenarios/mix.toml). Pure parsing."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from harness.errors import InputError

SHARES = ("category_share", "register_share", "cart_share", "checkout_share_of_carts", "sms_reentry_share",
          "cart_remove_share")  # fmt: skip
COUNTS = ("products_min", "products_max", "cart_items_min", "cart_items_max")
SECONDS = ("think_s_min", "think_s_max")


@dataclass(frozen=True)
class Mix:
    """Shares are probabilities in [0, 1]; counts are inclusive ranges; think times in seconds."""

    category_share: float = 0.5
    products_min: int = 2
    products_max: int = 5
    register_share: float = 0.15
    cart_share: float = 0.30
    checkout_share_of_carts: float = 0.38
    sms_reentry_share: float = 0.28
    cart_items_min: int = 1
    cart_items_max: int = 3
    cart_remove_share: float = 0.25
    think_s_min: float = 0.5
    think_s_max: float = 2.0


def load_mix(path: str | Path) -> Mix:
    """Read and validate a mix TOML file; InputError names the file and the field."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{source}: mix file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source}: not valid TOML: {error}") from None
    return parse_mix(data, source)


def parse_mix(data: Mapping[str, Any], source: str = "<mix>") -> Mix:
    """Validate parsed TOML (a ``[mix]`` table) into a Mix."""
    unknown = sorted(set(data) - {"mix"})
    if unknown:
        raise InputError(f"{source}: {unknown[0]}: unknown key (allowed: mix)")
    table = data.get("mix", {})
    if not isinstance(table, Mapping):
        raise InputError(f"{source}: mix: must be a table ([mix])")
    allowed = {f.name for f in fields(Mix)}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(f"{source}: [mix] {unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: [mix] {key}"
        if key in COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{where}: must be a whole number >= 0, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"{where}: must be a number, got {value!r}")
            if key in SHARES and not 0.0 <= value <= 1.0:
                raise InputError(f"{where}: must be a share between 0 and 1, got {value!r}")
            if key in SECONDS and value < 0:
                raise InputError(f"{where}: must be >= 0 seconds, got {value!r}")
            value = float(value)
        values[key] = value
    mix = Mix(**values)
    for low, high in (("products_min", "products_max"), ("cart_items_min", "cart_items_max"),
                      ("think_s_min", "think_s_max")):  # fmt: skip
        if getattr(mix, low) > getattr(mix, high):
            raise InputError(f"{source}: [mix] {high}: must be >= {low} ({getattr(mix, low)}), got {getattr(mix, high)}")
    if mix.cart_items_min < 1:
        raise InputError(f"{source}: [mix] cart_items_min: must be >= 1, got {mix.cart_items_min}")
    return mix
