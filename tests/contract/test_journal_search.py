"""``EntryFilter.contains``: the same matches on every backend (what the UI's search uses)."""

from __future__ import annotations

from fund.journal import EntryFilter, JournalWriter, open_journal

PAYLOADS = [{"rule": "rebalance", "symbol": "BTC/USDT"}, {"rule": "hold", "note": "100%_done"},
            {"rule": "buy BTC/USD", "why": "Biden up"}, {"rule": "hold", "note": "eth"}]


def test_contains_matches_payload_text_ignoring_ascii_case(journal_url: str) -> None:
    with open_journal(journal_url) as journal:
        writer = JournalWriter(journal, "a")
        for payload in PAYLOADS:
            writer.append("Decision", "2024-01-01T00:00:00.000000Z", payload)
        writer.flush()

        def seqs(text: str, **more: object) -> list[int]:
            where = EntryFilter(contains=text, **more)  # type: ignore[arg-type]
            return [e.seq for e in journal.read("a", where)]

        assert seqs("btc/") == [1, 3]
        assert seqs("BIDEN") == [3]
        assert seqs("%") == [2] and seqs("_done") == [2]  # SQL wildcards are plain text
        assert seqs("_") == [2]
        assert seqs("hold", descending=True, limit=1) == [4]
        assert seqs("nothing like this") == []


def test_contains_folds_only_ascii_letters_on_every_backend(journal_url: str) -> None:
    # PostgreSQL's lower() would also fold É and Ü (by the database's locale)
    with open_journal(journal_url) as journal:
        writer = JournalWriter(journal, "a")
        writer.append("Decision", "2024-01-01T00:00:00.000000Z", {"note": "ÉCOLE Zürich"})
        writer.flush()

        def seqs(text: str) -> list[int]:
            return [e.seq for e in journal.read("a", EntryFilter(contains=text))]

        assert seqs("ÉCOLE") == [1] and seqs("École") == [1]  # C, O, L, E fold; É stays
        assert seqs("école") == []
        assert seqs("zürich") == [1] and seqs("ZÜRICH") == []
