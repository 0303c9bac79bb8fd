"""The traffic mix file."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputError
from scenarios.mix import Mix, load_mix

REPO = Path(__file__).resolve().parents[2]


def test_shipped_mix_uses_documented_funnel():
    mix = load_mix(REPO / "scenarios" / "mix.toml")
    assert mix.checkout_share_of_carts == 0.38  # cart-to-payment conversion, targets.md
    assert mix.sms_reentry_share == 0.28
    assert isinstance(mix, Mix)


@pytest.mark.parametrize("text,message", [
    ("[mix]\ncart_share = 1.5", "[mix] cart_share: must be a share between 0 and 1"),
    ("[mix]\nproducts_min = 'two'", "[mix] products_min: must be a whole number"),
    ("[mix]\nproducts_min = 6\nproducts_max = 5", "[mix] products_max: must be >= products_min"),
    ("[mix]\nbasket = 1", "[mix] basket: unknown key"),
    ("[mix]\nthink_s_min = -1", "[mix] think_s_min: must be >= 0"),
    ("[mix]\ncart_items_min = 0", "[mix] cart_items_min: must be >= 1"),
])
def test_bad_mix_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_mix(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_missing_mix_file(tmp_path):
    with pytest.raises(InputError, match="mix file not found"):
        load_mix(tmp_path / "none.toml")
