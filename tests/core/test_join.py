"""The join rules: token proof, versions, clock offset estimate, lost workers (pure)."""

from __future__ import annotations

import pytest

from harness.core import join

MASTER = {"harness": "0.1.0", "locust": "2.40.0", "load_code": "abc"}


def hello(token: str | None, client_id: str = "host-a_1", **versions) -> dict:
    return {"name": "host-a-7", "host": "10.0.0.2", "versions": {**MASTER, **versions},
            "proof": join.proof(token, client_id) if token is not None else ""}


def test_a_worker_with_the_token_and_the_same_versions_joins():
    assert join.refusal(hello("s3cret-token-123456"), "host-a_1", "s3cret-token-123456", MASTER) is None


def test_no_token_and_a_wrong_token_are_refused_with_the_reason():
    assert "no join token" in join.refusal(hello(None), "host-a_1", "s3cret-token-123456", MASTER)
    assert "wrong join token" in join.refusal(hello("other-token-123456"), "host-a_1", "s3cret-token-123456", MASTER)


def test_a_proof_is_bound_to_its_client_id():
    """A proof copied from another worker's hello does not admit a different client."""
    copied = hello("s3cret-token-123456", client_id="host-a_1")
    assert "wrong join token" in join.refusal(copied, "host-b_2", "s3cret-token-123456", MASTER)


@pytest.mark.parametrize("field", join.VERSION_FIELDS)
def test_a_version_mismatch_names_both_sides(field):
    reason = join.refusal(hello("s3cret-token-123456", **{field: "other"}), "host-a_1", "s3cret-token-123456", MASTER)
    assert reason is not None and field in reason and "'other' on the worker" in reason
    assert f"{MASTER[field]!r} on the master" in reason


def test_clock_offset_from_the_round_trip_with_the_least_delay():
    # worker clock = master clock + 2.0 s; symmetric 10 ms one way, except a slow trip
    trips = [(100.0, 102.010, 102.011, 100.021),  # delay 20 ms
             (101.0, 103.050, 103.051, 101.061)]  # 50 ms out, 10 back: asymmetric and slow
    estimate = join.estimate_offset(trips)
    assert estimate.offset_s == pytest.approx(2.0, abs=1e-9)
    assert estimate.delay_s == pytest.approx(0.020)
    assert estimate.error_bound_s == pytest.approx(0.010)
    assert estimate.samples == 2
    with pytest.raises(ValueError):
        join.estimate_offset([])


def test_a_clock_beyond_the_limit_is_a_problem_naming_the_figure():
    assert join.clock_problem("w1", 0.2) is None
    problem = join.clock_problem("w1", -3.25)
    assert problem is not None and "-3.250 s" in problem and "w1" in problem


def test_lost_workers_are_those_silent_too_long_and_each_once():
    last = {"a": 100.0, "b": 96.0, "c": 90.0}
    assert join.lost(last, 101.5, after_s=5.0) == ["b", "c"]
    assert join.lost(last, 101.5, already=["c"], after_s=5.0) == ["b"]


def test_content_digest_is_canonical():
    assert join.content_digest({"b": 1, "a": [1, 2]}, {"mix": {"x": 1}}) == \
        join.content_digest({"a": [1, 2], "b": 1}, {"mix": {"x": 1}})
    assert join.content_digest({"a": 1}, {}) != join.content_digest({"a": 2}, {})
