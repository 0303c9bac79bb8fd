"""Units: every quantity a targets file may hold, and clear errors for the rest."""

import pytest

from harness.core.units import (
    COUNT,
    DURATION,
    GROWTH,
    RATIO,
    UnitError,
    format_value,
    parse_duration_ms,
    parse_growth_bytes_per_hour,
    parse_quantity,
    parse_ratio,
)


@pytest.mark.parametrize(("text", "ms"), [
    ("1.2s", 1200.0), ("250ms", 250.0), ("250 ms", 250.0), ("5min", 300_000.0), ("1h", 3_600_000.0),
    ("1500us", 1.5), ("20µs", 0.02), (".5s", 500.0), ("2e3ms", 2000.0),
])
def test_durations_become_milliseconds(text, ms):
    assert parse_duration_ms(text) == pytest.approx(ms)


def test_percentages_become_fractions():
    assert parse_ratio("99.9%") == pytest.approx(0.999)
    assert parse_ratio("17%") == pytest.approx(0.17)


def test_growth_uses_decimal_gigabytes_per_hour():
    assert parse_growth_bytes_per_hour("0.1GB/h") == pytest.approx(1e8)
    assert parse_growth_bytes_per_hour("0.5 GB/h") == pytest.approx(5e8)
    assert parse_growth_bytes_per_hour("1GiB/h") == pytest.approx(2**30)
    assert parse_growth_bytes_per_hour("1MB/s") == pytest.approx(3.6e9)


def test_bare_number_is_a_count():
    quantity = parse_quantity("0")
    assert (quantity.value, quantity.kind, quantity.unit) == (0.0, COUNT, "count")


@pytest.mark.parametrize(("text", "words"), [
    ("1.2 sec", "unknown unit 'sec'"),
    ("fast", "cannot read 'fast'"),
    ("", "cannot read ''"),
    ("1.2GB", "unknown unit 'GB'"),
    ("10GB/day", "unknown unit 'GB/day'"),
])
def test_bad_quantities_say_what_is_wrong(text, words):
    with pytest.raises(UnitError, match=words.replace("(", r"\(")):
        parse_quantity(text)


def test_a_quantity_of_the_wrong_kind_is_refused():
    with pytest.raises(UnitError, match="'99%' is a ratio, expected a duration"):
        parse_duration_ms("99%")
    with pytest.raises(UnitError, match="is a duration, expected a growth"):
        parse_growth_bytes_per_hour("1s")


def test_format_value_is_readable():
    assert format_value(1234.0, DURATION) == "1.23 s"
    assert format_value(87.25, DURATION) == "87.2 ms"
    assert format_value(300_000.0, DURATION) == "5.0 min"
    assert format_value(0.99912, RATIO) == "99.91%"
    assert format_value(1e8, GROWTH) == "0.100 GB/h"
    assert format_value(None, RATIO) == "n/a"
