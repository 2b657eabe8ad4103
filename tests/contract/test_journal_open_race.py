"""Processes opening one brand-new journal at the same moment all succeed (a daemon
creating its journal while `fund status`, the UI or a second daemon opens it)."""

from __future__ import annotations

import multiprocessing

from fund.journal import JournalWriter, open_journal
from tests.fixtures.journals import JournalUrls


def _open_and_write(url: str, index: int, results: multiprocessing.Queue[str]) -> None:
    try:
        with open_journal(url) as journal:
            writer = JournalWriter(journal, f"actor{index}")
            writer.append("Wake", "2024-01-01T00:00:00.000000Z", {"index": index})
            writer.flush()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results.put(f"{type(exc).__name__}: {exc}")


def test_simultaneous_first_opens_all_succeed(store_urls: JournalUrls) -> None:
    context = multiprocessing.get_context("spawn")
    for round_ in range(3):
        url = store_urls(f"race{round_}")
        results: multiprocessing.Queue[str] = context.Queue()
        workers = [context.Process(target=_open_and_write, args=(url, i, results))
                   for i in range(5)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcomes = [results.get(timeout=5) for _ in workers]
        assert outcomes == ["ok"] * 5, outcomes
        with open_journal(url) as journal:
            assert journal.processes() == [f"actor{i}" for i in range(5)]
