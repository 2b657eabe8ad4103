"""Fixtures of the integration tests that several modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.fake_venues import EXCHANGES, FakeVenue, fake_venue


@pytest.fixture(scope="module", params=EXCHANGES)
def running(request: pytest.FixtureRequest) -> Iterator[FakeVenue]:
    """Each supported exchange's fake (binance's, OKX's), running for the test module: a
    test that asks for it, or for :func:`venue`, runs on every exchange. A module may
    define its own ``running`` or ``venue`` instead."""
    with fake_venue(request.param) as started:
        yield started


@pytest.fixture()
def venue(running: FakeVenue) -> FakeVenue:
    """The running fake, reset: default prices and balances, no orders."""
    running.reset()
    return running
