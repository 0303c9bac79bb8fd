"""Fixtures shared across test folders."""

from __future__ import annotations

import pytest

from tests import early


def pytest_collection_finish(session):
    """Start the long campaigns the selected tests will need (tests/early.py), so that they run
    beside the quick tests instead of after them."""
    if session.config.option.collectonly or not session.items:
        return
    fixtures = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    factory = session.config._tmp_path_factory  # the tmp_path_factory fixture's own factory
    early.start_for(fixtures, lambda name: factory.mktemp(f"early-{name}"))


def pytest_sessionfinish(session):
    early.stop_all()


def pytest_collection_modifyitems(config, items):
    """``soak`` tests (minutes of load each) run only when asked for by name: ``-m soak``
    (``make soak-test``); every other run, ``make test`` and ``-m 'not slow'`` included, leaves
    them out."""
    if "soak" in (config.getoption("-m") or ""):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture(scope="session")
def two_worker_run(tmp_path_factory):
    """One smoke campaign on the embedded platform with a Locust master and 2 workers: (run dir,
    CompletedProcess). Shared by tests/campaign/test_campaign_platform.py and
    tests/rundir/test_results_schema.py (each campaign costs tens of seconds on a 2-core machine),
    so a session runs it once. Read it, never modify it."""
    from tests.campaign._helpers import run_harness, write_profile_file

    folder = tmp_path_factory.mktemp("two-workers")
    out = folder / "run"
    profile = write_profile_file(folder, rate=3.0, stages=[("100%", 1.0, 4.0), ("200%", 2.0, 4.0)],
                                 drain_s=2.0)
    result = run_harness("campaign", "--profile", str(profile), "--workers", "2", "--out", str(out),
                         "--cpu-profile", "none")
    return out, result
