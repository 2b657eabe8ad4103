"""A backtest records every headline of its period exactly once, edges included.

A tiny price series (hourly candles) and a tiny headline set built in ``tmp_path``; the
news fund wakes every two hours. The ids recorded across the actor's news observations
must be exactly those a plain filter of the dataset puts in the period [start, end]: one
at the period start, between the start and the first wake, at a wake, a microsecond
after one, after the last wake (the period ends between fire times) and at the end.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agentfund.backtests.engine import run_backtest
from fund.canonical import format_ts, loads
from fund.config import load_config
from fund.journal import open_journal
from fund.verify import verify_stream
from tests.fixtures.tamper import rehash_from, tampering

US = timedelta(microseconds=1)
ACTOR = "news"


def at(hour: int, minute: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 1, 1, hour, minute, tzinfo=UTC) + micro * US


HEADLINES = {  # id -> publication time; every one mentions Biden, so sentiment scores it
    "first-of-data": at(0, 20),  # the data's first item: the start of a period from the data
    "before-start": at(0, 30) - US,
    "at-start": at(0, 30),
    "before-first-wake": at(1, 15),
    "at-wake": at(2),
    "after-wake": at(2, micro=1),
    "before-wake": at(4) - US,
    "at-wake-2": at(4),
    "twin-at-wake-2": at(4),
    "after-wake-2": at(4, micro=1),
    "at-end": at(5, 30),
    "after-end": at(5, 30, micro=1),
    "at-wake-3": at(6),
    "last-of-data": at(6, 45),  # after the data's last wake: the end of a period from data
}
TITLES = ["Biden signs a great bill", "Biden faces an awful crisis", "Biden speaks"]

CONFIG = """
[fund]
initial_cash = 10000
quote = "USDT"
[backtest]
prices = "{prices}"
timeframe = "1h"
[backtest.news]
path = "{news}"
time = "time"
id = "id"
[actors.news]
cron = "0 */2 * * *"
strategy = "mention_sentiment"
[actors.news.params]
min_mentions = 1
[actors.news.params.keywords.Biden]
symbol = "BTC/USDT"
"""


@dataclass(frozen=True)
class Case:
    start: datetime | None  # None: the period comes from the data
    end: datetime | None
    period: tuple[datetime, datetime]  # what the period must then be


CASES = {
    "explicit-period-ending-between-wakes": Case(at(0, 30), at(5, 30), (at(0, 30), at(5, 30))),
    "period-from-the-data": Case(None, None, (at(0, 20), at(6, 45))),
    "period-ending-at-a-wake": Case(at(0, 30), at(4), (at(0, 30), at(4))),
}


def write_fund(tmp_path: Path) -> Path:
    prices = tmp_path / "prices"
    prices.mkdir()
    rows = [f"2024-01-01 {hour:02d}:00:00,{40000 + 100 * hour}.5" for hour in range(6)]
    (prices / "BTC_USDT-1h.csv").write_text("date,close\n" + "\n".join(rows) + "\n")
    news = tmp_path / "news.json"
    records = [{"id": ident, "time": moment.isoformat().replace("+00:00", "Z"),
                "title": TITLES[n % len(TITLES)], "link": f"https://example.org/{ident}"}
               for n, (ident, moment) in enumerate(HEADLINES.items())]
    news.write_text(json.dumps(records[::-1]))  # the file's order is not the time order
    path = tmp_path / "fund.toml"
    path.write_text(CONFIG.format(prices=prices, news=news))
    return path


def backtest(tmp_path: Path, case: Case, name: str = "journal") -> tuple[str, str]:
    """Run the case into a new SQLite journal; return its URL and head hash."""
    url = f"sqlite:///{tmp_path / name}.db"
    with open_journal(url) as journal:
        (run,) = run_backtest(load_config(write_fund(tmp_path / name)), journal,
                              start=case.start, end=case.end)
    return url, run.head_hash


def entries(url: str) -> list[tuple[int, str, dict[str, Any]]]:
    with open_journal(url) as journal:
        return [(e.seq, e.kind, loads(e.payload)) for e in journal.read(ACTOR)]


def observations(url: str, oracle: str) -> list[dict[str, Any]]:
    return [p for _, kind, p in entries(url) if kind == "Observation" and p["oracle"] == oracle]


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Case, str]:
    (tmp_path / "journal").mkdir()
    chosen = CASES[request.param]
    url, _ = backtest(tmp_path, chosen)
    return chosen, url


def test_every_headline_of_the_period_is_recorded_exactly_once(case: tuple[Case, str]) -> None:
    chosen, url = case
    first, last = chosen.period
    expected = {ident for ident, moment in HEADLINES.items() if first <= moment <= last}

    seen = Counter(item["id"] for p in observations(url, "news") for item in p["data"]["items"])

    assert set(seen) == expected
    assert all(count == 1 for count in seen.values()), seen


def test_the_windows_chain_and_say_what_they_cover(case: tuple[Case, str]) -> None:
    chosen, url = case
    news = observations(url, "news")

    assert news[0]["data"]["window"][0] == format_ts(chosen.period[0] - US)  # start excluded
    assert news[-1]["data"]["window"][1] == format_ts(chosen.period[1])  # end included
    for previous, current in pairwise(news):
        assert current["data"]["window"][0] == previous["data"]["window"][1]
    for observation in news:
        start, end = observation["data"]["window"]
        assert end == observation["as_of"]
        assert all(start < item["published"] <= end for item in observation["data"]["items"])


def test_headlines_after_the_last_wake_are_recorded_with_sentiment_before_the_end(
        case: tuple[Case, str]) -> None:
    chosen, url = case
    stream = entries(url)
    wake = max(datetime.fromisoformat(p["scheduled"]) for _, kind, p in stream if kind == "Wake")
    decided = max(seq for seq, kind, _ in stream if kind == "Decision")
    after = {ident for ident, moment in HEADLINES.items() if wake < moment <= chosen.period[1]}
    tail = {p["oracle"]: p for seq, kind, p in stream if kind == "Observation" and seq > decided}

    assert stream[-1][1] == "End"
    if not after:  # the period ends at its last wake: nothing more to record, nothing empty
        assert set(tail) == {"prices"}
        return
    assert set(tail) == {"prices", "news", "sentiment"}
    assert {i["id"] for i in tail["news"]["data"]["items"]} == after
    assert tail["news"]["as_of"] == format_ts(chosen.period[1])
    assert tail["sentiment"]["as_of"] == format_ts(chosen.period[1])
    assert tail["sentiment"]["data"]["items"] == len(after)
    assert tail["sentiment"]["data"]["keywords"]["Biden"]["mentions"] == len(after)


def test_the_journal_verifies_and_a_second_run_is_byte_identical(
        case: tuple[Case, str], tmp_path: Path) -> None:
    chosen, url = case
    (tmp_path / "again").mkdir()
    with open_journal(url) as journal:
        report = verify_stream(journal, ACTOR)
        head = journal.head(ACTOR)

    _, again = backtest(tmp_path, chosen, "again")

    assert report.ok, report.error
    assert head is not None and again == head.hash


def test_an_altered_score_of_the_final_sentiment_fails_verification(tmp_path: Path) -> None:
    (tmp_path / "journal").mkdir()
    url, _ = backtest(tmp_path, CASES["explicit-period-ending-between-wakes"])
    final = [(seq, p) for seq, kind, p in entries(url)
             if kind == "Observation" and p["oracle"] == "sentiment"][-1]
    seq = final[0]
    with tampering(url) as conn:
        stored = conn.execute(text("SELECT payload FROM journal_entries WHERE seq = :seq"),
                              {"seq": seq}).scalar_one()
        forged = stored.replace('"mentions":2', '"mentions":3', 1)
        assert forged != stored
        conn.execute(text("UPDATE journal_entries SET payload = :p WHERE seq = :seq"),
                     {"p": forged, "seq": seq})
        rehash_from(conn, ACTOR, seq)

    with open_journal(url) as journal:
        report = verify_stream(journal, ACTOR)

    assert not report.ok and report.seq == seq
    assert "scoring the recorded news again" in (report.error or "")
