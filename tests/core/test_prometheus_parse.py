"""query_range answers as plain series (harness.core.prometheus), and bad selectors named."""

from __future__ import annotations

import pytest

from harness.core import prometheus


def test_a_matrix_answer_becomes_series_named_by_instance():
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "process_resident_memory_bytes", "job": "shop", "instance": "10.0.0.5:8000"},
         "values": [[100.0, "1000"], [101.0, "1100"], [102.0, "NaN"]]}]}}
    series = prometheus.parse_range(answer)
    assert len(series) == 1 and series[0].instance == "shop/10.0.0.5:8000"
    assert series[0].points == ((100.0, 1000.0), (101.0, 1100.0))  # NaN (a stale marker) left out


@pytest.mark.parametrize("answer, needle", [
    ({"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}, "bad_data: parse error"),
    ({"status": "success", "data": {"resultType": "vector", "result": []}}, "expected a matrix"),
    ([], "not a JSON object"),
])
def test_a_refused_query_keeps_the_server_s_words(answer, needle):
    with pytest.raises(prometheus.QueryError, match=needle):
        prometheus.parse_range(answer)


def test_long_windows_are_asked_for_in_pieces_within_the_point_limit():
    pieces = list(prometheus.windows(0.0, 30_000.0, 1.0))
    assert pieces[0] == (0.0, 10_999.0) and pieces[-1][1] == 30_000.0
    assert all(end - start <= (prometheus.MAX_POINTS - 1) for start, end in pieces)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:], strict=False))


def test_pieces_merge_by_labels_keeping_a_shared_edge_once():
    a = prometheus.Series({"instance": "x"}, ((1.0, 1.0), (2.0, 2.0)))
    b = prometheus.Series({"instance": "x"}, ((2.0, 2.0), (3.0, 3.0)))
    assert prometheus.merge_pieces([[a], [b]])[0].points == ((1.0, 1.0), (2.0, 2.0), (3.0, 3.0))


@pytest.mark.parametrize("selector", ['job="shop"', "{}", ""])
def test_bad_selectors_are_named(selector):
    with pytest.raises(ValueError):
        prometheus.check_selector(selector)
    assert prometheus.check_selector(' {job="shop"} ') == '{job="shop"}'
