"""Clopper-Pearson intervals against published values and scipy's exact binomial test."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from harness.core.rates import clopper_pearson, rate


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # published exact 95% intervals (binomial confidence-limit tables)
    (0, 10, 0.0, 0.3085),
    (1, 10, 0.0025, 0.4450),
    (5, 10, 0.1871, 0.8129),
    (10, 10, 0.6915, 1.0),
])
def test_known_intervals(k, n, low, high):
    got_low, got_high = clopper_pearson(k, n)
    assert got_low == pytest.approx(low, abs=1e-4)
    assert got_high == pytest.approx(high, abs=1e-4)


@pytest.mark.parametrize("n", [1, 7, 50, 1000])
def test_closed_form_at_the_edges(n):
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n)
    assert clopper_pearson(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    assert clopper_pearson(n, n)[0] == pytest.approx(0.025 ** (1 / n), rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_matches_scipy_exact_binomial_interval(kn):
    k, n = kn
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = clopper_pearson(k, n)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


def test_perfect_availability_from_200_requests_does_not_prove_three_nines():
    figure = rate(200, 200)
    assert figure.rate == 1.0
    assert figure.ci_low < 0.999  # "100%" of 200 cannot pass a 99.9% target


def test_empty_rate_has_no_interval():
    assert rate(0, 0).as_dict() == {"rate": None, "ci": None, "n": 0, "k": 0}


@pytest.mark.parametrize(("k", "n", "words"), [(1, 0, "at least one trial"), (5, 3, "within 0..n"), (-1, 3, "within 0..n")])
def test_bad_counts_are_refused(k, n, words):
    with pytest.raises(ValueError, match=words):
        clopper_pearson(k, n)
