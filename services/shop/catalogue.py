"""The deterministic seeded catalogue (products, categories) and product image bytes.

Images are slices of one seeded random blob (620 KB, kept in memory) with a JPEG header and
trailer: deterministic, 20-300 KB each, served from memory without keeping thousands of
distinct buffers.
"""

from __future__ import annotations

import functools
import random
import re

PRODUCT_COUNT = 5000
CATEGORIES = (
    "Infant Formula", "Diapers", "Baby Care", "Toys", "Strollers", "Women's Fashion",
    "Men's Fashion", "Shoes", "Beauty", "Skin Care", "Phones", "Computers", "Home Appliances",
    "Kitchen", "Furniture", "Snacks", "Fresh Food", "Sports", "Books", "Health",
)
_ADJECTIVES = ("Organic", "Premium", "Classic", "Smart", "Soft", "Ultra", "Eco", "Deluxe", "Mini",
               "Pro", "Lite", "Family", "Travel", "Gentle", "Fresh", "Golden")
_NOUNS = ("Set", "Pack", "Kit", "Bundle", "Edition", "Series", "Box", "Collection", "Model")
_IMAGE_NAME = re.compile(r"(p(\d{1,9})-(\d)|t(\d{1,9}))\.jpg")
_JPEG_HEAD = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
_JPEG_TAIL = bytes.fromhex("ffd9")
_BLOB_BYTES = 620_000


def categories() -> list[tuple[int, str]]:
    """(id, name) of every category, ids from 1."""
    return [(i + 1, name) for i, name in enumerate(CATEGORIES)]


def products(seed: int) -> list[tuple[int, int, str, str, int, int, int]]:
    """Rows (id, category_id, name, description, price_fen, stock, image_count), ids from 1;
    the same seed gives the same catalogue."""
    rng = random.Random(f"{seed}:catalogue")
    rows = []
    for pid in range(1, PRODUCT_COUNT + 1):
        cat_id = rng.randrange(len(CATEGORIES)) + 1
        cat = CATEGORIES[cat_id - 1]
        name = f"{rng.choice(_ADJECTIVES)} {cat} {rng.choice(_NOUNS)} {rng.randrange(100, 999)}"
        description = (f"{name}: a {cat.lower()} product of our reference catalogue. "
                       f"Model {pid:05d}, rated {rng.uniform(3.0, 5.0):.1f}/5 by "
                       f"{rng.randrange(10, 5000)} shoppers.")
        price_fen = rng.randrange(99, 200_000)
        rows.append((pid, cat_id, name, description, price_fen, rng.randrange(0, 1000), rng.randrange(2, 5)))
    return rows


def image_urls(product_id: int, image_count: int) -> list[str]:
    """The detail image paths of a product."""
    return [f"/static/img/p{product_id}-{n}.jpg" for n in range(image_count)]


def thumbnail_url(product_id: int) -> str:
    """The list thumbnail path of a product."""
    return f"/static/img/t{product_id}.jpg"


@functools.lru_cache(maxsize=4)
def _blob(seed: int) -> bytes:
    return random.Random(f"{seed}:images").randbytes(_BLOB_BYTES)


def image_size_bytes(name: str, seed: int) -> int | None:
    """Size of image ``name`` (20-300 KB; thumbnails 20-40 KB), None if not a valid name."""
    match = _IMAGE_NAME.fullmatch(name)
    if not match:
        return None
    pid = int(match.group(2) or match.group(4))
    if not 1 <= pid <= PRODUCT_COUNT:
        return None
    rng = random.Random(f"{seed}:img:{name}")
    if match.group(4):
        return rng.randrange(20_000, 40_001)
    if int(match.group(3)) > 3:
        return None
    return rng.randrange(20_000, 300_001)


def image_bytes(name: str, seed: int) -> bytes | None:
    """The deterministic bytes of image ``name``, or None when there is no such image.

    Not cached per image: a slice of the in-memory blob costs one copy, while caching
    thousands of 20-300 KB images would grow the process by hundreds of MB."""
    size = image_size_bytes(name, seed)
    if size is None:
        return None
    body = size - len(_JPEG_HEAD) - len(_JPEG_TAIL)
    offset = (hash_name(name) % (_BLOB_BYTES - body))
    return _JPEG_HEAD + _blob(seed)[offset:offset + body] + _JPEG_TAIL


def hash_name(name: str) -> int:
    """A stable (not per-process randomised) hash of a name."""
    h = 2166136261
    for ch in name.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h
