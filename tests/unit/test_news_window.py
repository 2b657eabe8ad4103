"""The historical news oracle's windows: (start, at], chained, the first one holding ``since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agentfund.backtests.news import HistoricalNews
from agentfund.oracles.base import Recorded
from fund.canonical import format_ts
from fund.messages import Observation

US = timedelta(microseconds=1)
SINCE = datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
WAKES = [datetime(2024, 1, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, 4, tzinfo=UTC)]
PUBLISHED = {  # id -> publication time
    "before-since": SINCE - US,
    "at-since": SINCE,
    "before-first-wake": datetime(2024, 1, 1, 1, 15, tzinfo=UTC),
    "at-first-wake": WAKES[0],
    "just-after-first-wake": WAKES[0] + US,
    "at-second-wake": WAKES[1],
    "after-second-wake": WAKES[1] + US,
}


class NoBlobs:
    def put_blob(self, data: bytes) -> str:
        raise AssertionError("news needs no blobs")


def dataset() -> list[tuple[int, dict[str, Any]]]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return sorted(((moment - epoch) // US, {"id": ident, "published": format_ts(moment)})
                  for ident, moment in PUBLISHED.items())


def observe_wakes() -> list[dict[str, Any]]:
    """Observe at each wake, each time with the previous observation as the journal's last."""
    oracle = HistoricalNews("news", dataset(), SINCE)
    observed: list[dict[str, Any]] = []
    last: dict[str, Observation] = {}
    for seq, wake in enumerate(WAKES, 1):
        data = oracle.observe(wake, NoBlobs(), Recorded(last=last))
        observed.append(data)
        last = {"news": Observation(oracle="news", seq=seq, as_of=wake, data=data)}
    return observed


def test_the_first_window_holds_an_item_published_exactly_at_since() -> None:
    first, _ = observe_wakes()

    assert [i["id"] for i in first["items"]] == ["at-since", "before-first-wake", "at-first-wake"]


def test_an_item_at_a_wake_is_seen_then_and_one_a_microsecond_later_at_the_next() -> None:
    _, second = observe_wakes()

    assert [i["id"] for i in second["items"]] == ["just-after-first-wake", "at-second-wake"]


def test_each_window_excludes_its_start_includes_its_end_and_chains_to_the_previous() -> None:
    first, second = observe_wakes()

    assert first["window"] == [format_ts(SINCE - US), format_ts(WAKES[0])]
    assert second["window"] == [first["window"][1], format_ts(WAKES[1])]
    for data in (first, second):
        start, end = data["window"]
        assert all(start < item["published"] <= end for item in data["items"])
