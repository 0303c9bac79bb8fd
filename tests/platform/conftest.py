"""Fixtures: a real platform started with `harness shop --port 0 --port-file` (session-scoped),
shoppers registered over HTTP, the platform's keys."""

from __future__ import annotations

import pytest

from tests.platform._helpers import (
    Platform,
    Shopper,
    close_sessions,
    register_shopper,
    start_platform,
    stop_platform,
)


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Platform:
    """One platform for the whole session (healthy, seed 7, time scale 1/60)."""
    running = start_platform(tmp_path_factory.mktemp("platform"))
    yield running
    close_sessions()
    assert stop_platform(running) == 0


@pytest.fixture
def faults(platform):
    """The session platform, with every fault knob reset to healthy after the test."""
    platform.reset_faults()
    yield platform
    platform.reset_faults()


@pytest.fixture(scope="session")
def shopper(platform) -> Shopper:
    """A registered shopper shared by the session (tests must not rely on its cart being empty)."""
    return register_shopper(platform.shop_url)


@pytest.fixture
def new_shopper(platform) -> Shopper:
    """A fresh shopper for one test (empty cart, no orders)."""
    return register_shopper(platform.shop_url)


@pytest.fixture(scope="session")
def keys(platform):
    """The platform's key material (for signing test messages as merchant or gateway)."""
    from services.unionpay.keys import load_keys

    return load_keys(platform.data_dir / "keys")
