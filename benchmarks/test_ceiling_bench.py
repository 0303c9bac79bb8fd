"""Cost of the generators' ceiling on the request path: one TokenBucket.reserve per request
(loadtests/ceiling.py). The figure to watch is its mean: it must stay far below a request's."""

from loadtests.ceiling import TokenBucket


def test_token_bucket_reserve(benchmark):
    bucket = TokenBucket(1_000_000.0)
    clock = iter(range(10**9))
    benchmark(lambda: bucket.reserve(next(clock) * 1e-6))
