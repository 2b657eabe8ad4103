"""Code identity: agentfund's own modules by their source, without scanning every installed
distribution; a packaged plugin's by its distribution's RECORD."""

from __future__ import annotations

import hashlib
import inspect
from importlib import metadata

import pytest

from fund import identity


def test_own_modules_are_their_source_without_a_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    import agentfund.strategies.rebalance as module

    identity._distribution.cache_clear()

    def no_scan() -> None:
        raise AssertionError("scanned every distribution for agentfund's own module")

    monkeypatch.setattr(metadata, "packages_distributions", no_scan)
    try:
        expected = hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
        assert identity.code_identity(module) == expected
        assert identity.code_identity(module.Rebalance) == expected
    finally:
        identity._distribution.cache_clear()


def test_another_distribution_is_its_record() -> None:
    import orjson

    identity._distribution.cache_clear()
    found = identity.code_identity(orjson)
    assert found.startswith(f"dist:orjson=={metadata.version('orjson')}:")
    identity._distribution.cache_clear()
