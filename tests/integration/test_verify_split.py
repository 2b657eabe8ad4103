"""A stream verified in segments at once gives the report a sequential replay gives.

Real backtest journals in SQLite files, real helper processes (forked, and new
interpreters), and the journal tampered with in its own tables as in the tamper tests:
wherever the tampering is — in the first segment, just before or at a segment's first
entry, in a later one, at the end — the split's report is the sequential one, entry for
entry. A stateful strategy, a helper that died and a state that differs make the caller
replay on itself, with the same report.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

import fund.verify_split as split_module
from fund.canonical import dumps, loads
from fund.journal import open_journal
from fund.journal.base import EntryFilter
from fund.replay import Replayer
from fund.verify import StreamReport, verify_stream
from fund.verify_split import SKIM, Split, cuts
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.signed import signed_w1
from tests.fixtures.tamper import copy_journal, forge, rehash_from, rows, tampering

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ACTOR = "rebalancer"


def _backtest(out: Path, config: str, start: str, end: str) -> str:
    url = f"sqlite:///{out / 'journal.db'}"
    result = run_fund("backtest", str(EXAMPLES / config), "--out", str(out), "--journal", url,
                      "--start", start, "--end", end, "--no-report", "--json")
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture(scope="module")
def w1(tmp_path_factory: pytest.TempPathFactory) -> str:
    """W1's rebalancer over ten days, hourly: some 730 entries, with orders and fills."""
    return _backtest(tmp_path_factory.mktemp("w1"), "rebalance.toml", "2024-03-01",
                     "2024-03-10")


@pytest.fixture(scope="module")
def mentions(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The news-mention fund over three days: a strategy whose state is a window of
    scores, and derived observations (scores) the helper derives again."""
    return _backtest(tmp_path_factory.mktemp("mentions"), "sentiment.toml", "2022-01-03",
                     "2022-01-05")


def copy(url: str, tmp_path: Path, name: str = "copy") -> str:
    return copy_journal(url, f"sqlite:///{tmp_path / (name + '.db')}")


def sequential(url: str, actor: str = ACTOR, head: str | None = None,
               key: Ed25519PublicKey | None = None) -> StreamReport:
    journal = open_journal(url)
    try:
        return verify_stream(journal, actor, head, key=key)
    finally:
        journal.close()


def split_verify(url: str, jobs: int, *, fork: bool, actor: str = ACTOR,
                 head: str | None = None, may_not: bool = False,
                 key: Ed25519PublicKey | None = None) -> tuple[StreamReport, Split]:
    """Verify with helpers started for any stream length; the report and the split (with
    ``may_not``, a stream too short to split is verified as it is)."""
    journal = open_journal(url)
    try:
        split = Split.start(journal, actor, jobs, min_entries=1, fork=fork, key=key)
        if split is None and may_not:
            split = Split([])
            return verify_stream(journal, actor, head, key=key), split
        assert split is not None
        return verify_stream(journal, actor, head, key=key, split=split), split
    finally:
        journal.close()


def boundaries(url: str, jobs: int, actor: str = ACTOR) -> list[int]:
    journal = open_journal(url)
    try:
        split = Split.start(journal, actor, jobs, min_entries=1, fork=True)
        assert split is not None
        points = [helper.at for helper in split.helpers]
        split.close()
        return points
    finally:
        journal.close()


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
@pytest.mark.parametrize("jobs", [2, 3, 4])
def test_a_split_reports_what_one_replay_does(w1: str, jobs: int, fork: bool) -> None:
    expected = sequential(w1)
    assert expected.ok and expected.entries > 500
    report, split = split_verify(w1, jobs, fork=fork)
    assert report == expected
    assert split.used  # the helpers' verdicts made it, not a replay on after a mismatch
    assert not split.helpers  # stopped and reaped


def test_the_segments_begin_at_wakes_and_share_the_work(w1: str) -> None:
    journal_rows = rows(w1, ACTOR)
    kinds = {seq: kind for _, seq, kind, *_ in journal_rows}
    points = boundaries(w1, 3)
    assert len(points) == 2 and points == sorted(set(points))
    assert all(kinds[p] == "Wake" for p in points)
    # each point is the first Wake at or after where the cost model puts it
    for point, target in zip(points, cuts(len(journal_rows), 3), strict=True):
        assert all(kinds[s] != "Wake" for s in range(target, point))
    # the cost model: the first process replays c1 entries; each other one folds the
    # entries before its segment (SKIM each) and replays its own: all about equal
    n = 90_000
    c = cuts(n, 3)
    work = [c[0] - 1, SKIM * (c[0] - 1) + (c[1] - c[0]), SKIM * (c[1] - 1) + (n + 1 - c[1])]
    assert max(work) - min(work) < 3


def _flip_digit(payload: str) -> str:
    for index, char in enumerate(payload):
        if char.isdigit():
            return payload[:index] + str((int(char) + 1) % 10) + payload[index + 1:]
    raise AssertionError("no digit")


def _tamper(url: str, seq: int, how: str) -> None:
    """Tamper with entry ``seq``: ``altered`` (content, chain left as it was), ``forged``
    (content and every hash after it rewritten), ``removed`` (this entry and every one
    after it cut off: the head check must tell)."""
    with tampering(url) as conn:
        if how == "removed":
            conn.execute(text("DELETE FROM journal_entries WHERE process_id = :pid "
                              "AND seq >= :seq"), {"pid": ACTOR, "seq": seq})
            return
        payload = conn.execute(text("SELECT payload FROM journal_entries WHERE process_id "
                                    "= :pid AND seq = :seq"), {"pid": ACTOR, "seq": seq}).scalar()
        conn.execute(text("UPDATE journal_entries SET payload = :payload WHERE process_id = "
                          ":pid AND seq = :seq"),
                     {"payload": _flip_digit(payload), "pid": ACTOR, "seq": seq})
        if how == "forged":
            rehash_from(conn, ACTOR, seq)


@pytest.mark.parametrize("how", ["altered", "forged", "removed"])
@pytest.mark.parametrize("where", ["second entry", "first segment", "before a cut",
                                   "at a cut", "after a cut", "second segment", "last entry"])
def test_tampering_anywhere_is_reported_as_one_replay_reports_it(
        w1: str, tmp_path: Path, where: str, how: str) -> None:
    journal_rows = rows(w1, ACTOR)
    last = len(journal_rows)
    cut = boundaries(w1, 2)[0]
    seq = {"second entry": 3, "first segment": cut // 2, "before a cut": cut - 1,
           "at a cut": cut, "after a cut": cut + 2, "second segment": (cut + last) // 2,
           "last entry": last}[where]
    if how != "removed":  # an entry with a digit to change: the Decision of that wake
        seq = next(s for _, s, kind, *_ in journal_rows[seq - 1:] if kind == "Decision") \
            if where != "last entry" else last
    url = copy(w1, tmp_path)
    _tamper(url, seq, how)
    head = journal_rows[-1][6]  # what the investor was told
    expected = sequential(url, head=head)
    assert not expected.ok and expected.seq is not None
    for fork in (True, False):
        report, split = split_verify(url, 2, fork=fork, head=head, may_not=how == "removed")
        assert report == expected, (where, how, fork)
        assert split.helpers == [] and (split.used or how != "forged" or seq < cut)


def test_a_forged_observation_before_the_cut_is_caught_before_it(w1: str,
                                                                 tmp_path: Path) -> None:
    """A price forged in the first segment changes the books the helper folds from the
    same rows: the replay before the cut finds the decision that does not follow."""
    cut = boundaries(w1, 2)[0]
    url = copy(w1, tmp_path)
    observation = next(r for r in rows(url, ACTOR)[cut // 2:] if r[2] == "Observation")
    payload = loads(observation[4])
    symbol = sorted(payload["data"]["prices"])[0]
    payload["data"]["prices"][symbol]["price"] = "1"
    forge(url, ACTOR, observation[1], payload)
    expected = sequential(url)
    assert not expected.ok and expected.seq is not None and expected.seq < cut
    report, split = split_verify(url, 2, fork=True)
    assert report == expected and not split.used


def test_a_stateful_strategy_is_replayed_on_by_the_caller(mentions: str) -> None:
    expected = sequential(mentions, "mentions")
    assert expected.ok
    cut = boundaries(mentions, 2, "mentions")[0]
    # the strategy's state where the segment begins, replayed independently
    journal = open_journal(mentions)
    try:
        replay = Replayer(strict=False)
        for entry in journal.read("mentions", EntryFilter(last_seq=cut - 1)):
            replay.feed(entry, loads(entry.payload))
        assert replay.core is not None
        state, initial = replay.core.state, replay.core.strategy.initial_state()
    finally:
        journal.close()
    assert dumps(list(state)) != dumps(list(initial))  # the helper cannot know it
    for fork in (True, False):
        report, split = split_verify(mentions, 2, fork=fork, actor="mentions")
        assert report == expected
        assert not split.used


def test_a_helper_that_died_leaves_the_verdict_to_the_caller(w1: str) -> None:
    expected = sequential(w1)
    journal = open_journal(w1)
    try:
        split = Split.start(journal, ACTOR, 3, min_entries=1, fork=True)
        assert split is not None
        os.kill(split.helpers[-1].pid, signal.SIGKILL)
        report = verify_stream(journal, ACTOR, split=split)
    finally:
        journal.close()
    assert report == expected
    assert not split.used


def test_a_state_that_differs_is_not_taken(w1: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fingerprint is the whole state: a NAV peak one unit off makes the caller
    replay on (forked helpers inherit the patch)."""
    expected = sequential(w1)
    real = Replayer.feed

    def skewed(self: Replayer, entry, payload) -> None:  # type: ignore[no-untyped-def]
        real(self, entry, payload)
        if not self.strict and self.core is not None and entry.kind == "Decision":
            self.core._risk.peak_nav += 1  # only the helpers' fold is trusting

    monkeypatch.setattr(Replayer, "feed", skewed)
    report, split = split_verify(w1, 2, fork=True)
    assert report == expected
    assert not split.used


def test_fingerprints_agree_only_on_equal_states(w1: str) -> None:
    journal = open_journal(w1)
    try:
        cut = boundaries(w1, 2)[0]
        before = list(journal.read(ACTOR, EntryFilter(last_seq=cut - 1)))
    finally:
        journal.close()
    strict = Replayer(strict=True)
    folded = Replayer(strict=False, decides=False)
    for entry in before:
        payload = loads(entry.payload)
        strict.feed(entry, payload)
        folded.feed(entry, payload)
    assert strict.core is not None and folded.core is not None
    assert strict.at_rest()
    assert strict.core.fingerprint() == folded.core.fingerprint()
    folded.core.ledger.cash += 1
    assert strict.core.fingerprint() != folded.core.fingerprint()
    folded.core.ledger.cash -= 1
    folded.core.state = ("a state",)
    assert strict.core.fingerprint() != folded.core.fingerprint()


def test_fund_verify_jobs(w1: str, monkeypatch: pytest.MonkeyPatch) -> None:
    one = run_fund("verify", w1, "--jobs", "1")
    two = run_fund("verify", w1, "--jobs", "2")
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    assert one.stdout == two.stdout and "verified" in one.stdout
    bad = run_fund("verify", w1, "--jobs", "0")
    assert bad.returncode == 2
    assert "--jobs: '0' is not a whole number of at least 1" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_short_streams_and_other_journals_are_not_split(w1: str, tmp_path: Path) -> None:
    journal = open_journal(w1)
    try:
        assert Split.start(journal, ACTOR, 2) is None  # under MIN_ENTRIES
        assert Split.start(journal, ACTOR, 1, min_entries=1) is None
    finally:
        journal.close()
    memory = open_journal("memory://split-test")
    try:
        assert Split.start(memory, ACTOR, 2, min_entries=1) is None
    finally:
        memory.close()
    assert split_module.MIN_ENTRIES >= 10_000


def test_disconnect_leaves_no_connection_and_the_journal_usable(w1: str) -> None:
    journal = open_journal(w1)
    try:
        reading = journal.read(ACTOR)
        next(reading)
        assert not journal.disconnect()  # a read is under way
        reading.close()
        other = open_journal(w1)
        assert not journal.disconnect()  # another journal of this process has the file
        other.close()
        assert journal.disconnect()
        assert journal.head(ACTOR) is not None  # connects again
    finally:
        journal.close()


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """Sixty hourly wakes of W1 run as a daemon would, a signed checkpoint every ten:
    the journal, the manager's public key and another key."""
    from fund.attest import generate

    folder = tmp_path_factory.mktemp("signed")
    url = f"sqlite:///{folder / 'journal.db'}"
    _, public = signed_w1(url, folder / "keys", hours=60)
    _, other, _ = generate(folder / "other")
    return url, public, other


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "new-interpreter"])
def test_signed_checkpoints_are_checked_across_the_cuts(
        signed: tuple[str, Path, Path], fork: bool) -> None:
    from fund.attest import load_public

    url, public, other = signed
    kinds = [r[2] for r in rows(url, ACTOR)]
    assert kinds.count("Checkpoint") == 6
    key, wrong = load_public(public), load_public(other)
    expected = sequential(url, key=key)
    assert expected.ok
    for jobs in (2, 3):
        points = boundaries(url, jobs)
        checkpoints = [seq for seq, kind in enumerate(kinds, 1) if kind == "Checkpoint"]
        assert any(seq < points[0] for seq in checkpoints)  # one to carry over a cut
        report, split = split_verify(url, jobs, fork=fork, key=key)
        assert report == expected and split.used
    refused = sequential(url, key=wrong)
    assert not refused.ok and "not signed by the manager's key" in (refused.error or "")
    report, _ = split_verify(url, 2, fork=fork, key=wrong)
    assert report == refused


def test_a_forged_checkpoint_after_the_cut_is_reported_as_one_replay_reports_it(
        signed: tuple[str, Path, Path], tmp_path: Path) -> None:
    from fund.attest import load_public

    url, public, _ = signed
    cut = boundaries(url, 2)[0]
    later = [r for r in rows(url, ACTOR) if r[2] == "Checkpoint" and r[1] > cut]
    assert later
    forged_url = copy(url, tmp_path)
    payload = loads(later[0][4])
    payload["at"] = payload["at"].replace("2024", "2023")  # no longer what was signed
    forge(forged_url, ACTOR, later[0][1], payload)
    key = load_public(public)
    expected = sequential(forged_url, key=key)
    assert expected.seq == later[0][1]
    report, split = split_verify(forged_url, 2, fork=True, key=key)
    assert report == expected and split.used


def test_no_process_to_be_had_leaves_one_process_verifying(
        w1: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that cannot be started (a process limit) is no error: the caller verifies
    alone, and helpers already started are stopped."""
    started: list[int] = []
    real = split_module._fork

    def second_fails(at: int, args: list[str]):  # type: ignore[no-untyped-def]
        if started:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        helper = real(at, args)
        started.append(helper.pid)
        return helper

    monkeypatch.setattr(split_module, "_fork", second_fails)
    with open_journal(w1) as journal:
        assert Split.start(journal, ACTOR, 3, min_entries=1, fork=True) is None
    assert started
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)  # stopped and reaped


def test_a_side_stream_is_not_split(w1: str, tmp_path: Path) -> None:
    """A side stream's chain alone is checked: no helper replays it, whatever kinds of
    entries it holds (here some named like wakes, where a cut could fall)."""
    from fund.journal import JournalWriter

    url = copy(w1, tmp_path)
    side = f"{ACTOR}.commands"
    with open_journal(url) as journal:
        writer = JournalWriter(journal, side)
        for number in range(40):
            writer.append_text("Wake" if number % 4 == 0 else "Command",
                               f"2024-03-01T00:{number:02d}:00.000000Z", "{}")
        writer.flush()
        assert Split.start(journal, side, 2, min_entries=1, fork=True) is None
        assert verify_stream(journal, side, jobs=2).ok


def test_helpers_are_new_interpreters_off_linux(w1: str, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    """Forking is for Linux only: elsewhere the helpers are started as new interpreters,
    and the report is the same."""
    import sys

    expected = sequential(w1)
    monkeypatch.setattr(sys, "platform", "darwin")
    with open_journal(w1) as journal:
        split = Split.start(journal, ACTOR, 2, min_entries=1)
        assert split is not None
        assert all(helper.proc is not None for helper in split.helpers)  # not forked
        assert verify_stream(journal, ACTOR, split=split) == expected
    assert split.used
