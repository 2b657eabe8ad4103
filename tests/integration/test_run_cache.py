"""``fund backtest`` keeps finished runs and copies one when the same run is asked for again
(agentfund.backtests.run_cache): byte for byte, only when nothing it depends on changed,
and never a kept run that does not check out."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from vaderSentiment import vaderSentiment  # type: ignore[import-untyped]

from agentfund.backtests import run_cache
from tests.conftest import EXAMPLES, SAMPLE_PRICES, run_fund

CONFIG = EXAMPLES / "rebalance.toml"
SHORT = ("--start", "2024-03-01", "--end", "2024-03-02")
COPIED = "ran before: copied that run"
LEXICON = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own, with whole runs kept (the suite turns that off)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("AGENTFUND_CACHE", str(root))
    monkeypatch.setenv("AGENTFUND_RUN_CACHE", "on")
    return root


def backtest(out: Path, *args: str, config: Path = CONFIG) -> tuple[dict[str, Any], str]:
    """Run ``fund backtest`` into ``out``; return its JSON summary and its stderr."""
    done = run_fund("backtest", str(config), "--out", str(out), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def kept(cache: Path) -> list[Path]:
    runs = cache / "runs"
    return sorted(p for p in runs.iterdir() if not p.name.startswith(".")) if runs.exists() \
        else []



def _keep(key: str, out: Path, summary: dict[str, Any]) -> None:
    """Keep a run as `fund backtest` does: its summary and report written in the block."""
    with run_cache.keeping(key, out) as keeper:
        keeper.done(summary)

def test_an_identical_rerun_is_the_kept_run_copied_byte_for_byte(cache: Path,
                                                                  tmp_path: Path) -> None:
    first, said = backtest(tmp_path / "a", *SHORT)
    assert COPIED not in said
    assert len(kept(cache)) == 1

    second, said = backtest(tmp_path / "b", *SHORT)
    assert COPIED in said
    a, b = tmp_path / "a", tmp_path / "b"
    for name in ("journal.db", "report.html"):
        assert (b / name).read_bytes() == (a / name).read_bytes(), name
    # the summary is the first run's, with this run's own paths
    assert second["journal"] == f"sqlite:///{(b / 'journal.db').resolve()}"
    assert second["report"] == str(b / "report.html")
    paths = ("journal", "report")
    assert {k: v for k, v in second.items() if k not in paths} == \
        {k: v for k, v in first.items() if k not in paths}
    assert json.loads((b / "summary.json").read_text(encoding="utf-8")) == second
    verified = run_fund("verify", str(b / "journal.db"))
    assert verified.returncode == 0, verified.stderr

    # what was copied is what running it again writes; --no-cache neither reuses nor keeps
    os.utime(kept(cache)[0], (1_000_000, 1_000_000))
    third, said = backtest(tmp_path / "c", *SHORT, "--no-cache")
    assert COPIED not in said
    assert (tmp_path / "c" / "journal.db").read_bytes() == (a / "journal.db").read_bytes()
    assert third["head_hash"] == first["head_hash"]
    assert [p.stat().st_mtime for p in kept(cache)] == [1_000_000]


def test_a_change_to_the_config_or_period_runs_it_again(cache: Path, tmp_path: Path) -> None:
    first, _ = backtest(tmp_path / "a", *SHORT, "--no-report")
    fee, said = backtest(tmp_path / "b", *SHORT, "--no-report", "--set", "fund.fee_rate=0.002")
    assert COPIED not in said and fee["fees"] != first["fees"]
    longer, said = backtest(tmp_path / "c", "--start", "2024-03-01", "--end", "2024-03-03",
                            "--no-report")
    assert COPIED not in said and longer["entries"] > first["entries"]
    # with the report, it is another run too (the one without kept none)
    _, said = backtest(tmp_path / "d", *SHORT)
    assert COPIED not in said
    assert len(kept(cache)) == 4


def test_changed_price_data_runs_it_again(cache: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices"
    shutil.copytree(SAMPLE_PRICES, prices)
    where = ("--set", f"backtest.prices={json.dumps(str(prices))}", *SHORT, "--no-report")
    first, _ = backtest(tmp_path / "a", *where)

    btc = prices / "BTC_USDT-5m.feather"
    frame = pd.read_feather(btc)
    prices_columns = ["open", "high", "low", "close"]
    frame[prices_columns] = frame[prices_columns] * 1.01
    frame.to_feather(btc)

    second, said = backtest(tmp_path / "b", *where)
    assert COPIED not in said
    assert second["head_hash"] != first["head_hash"]


def test_a_changed_file_the_config_names_runs_it_again(cache: Path, tmp_path: Path) -> None:
    """A scorer's lexicon is read by no data loader: the key still follows its bytes."""
    lexicon = tmp_path / "lexicon.txt"
    shutil.copyfile(LEXICON, lexicon)
    args = ("--start", "2022-01-16", "--end", "2022-01-16", "--no-report", "--set",
            'actors.mentions.params.scorer={kind="vader", lexicon=' f'"{lexicon}"' "}")
    config = EXAMPLES / "sentiment.toml"
    backtest(tmp_path / "a", *args, config=config)
    _, said = backtest(tmp_path / "b", *args, config=config)
    assert COPIED in said

    with lexicon.open("a", encoding="utf-8") as handle:
        handle.write("trump\t-3.0\t0.5\t[-3, -3, -3]\n")
    _, said = backtest(tmp_path / "c", *args, config=config)
    assert COPIED not in said


def test_a_kept_run_that_does_not_check_out_is_run_again(cache: Path, tmp_path: Path) -> None:
    first, _ = backtest(tmp_path / "a", *SHORT, "--no-report")
    [entry] = kept(cache)
    with sqlite3.connect(entry / "journal.db") as db:  # rewrite one entry, chain and all
        db.execute("UPDATE journal_entries SET ts = ts || ' ' WHERE seq = 3")
    db.close()

    second, said = backtest(tmp_path / "b", *SHORT, "--no-report")
    assert COPIED not in said
    assert (tmp_path / "b" / "journal.db").read_bytes() == \
        (tmp_path / "a" / "journal.db").read_bytes()
    assert second["head_hash"] == first["head_hash"]
    assert not list((tmp_path / "b").glob(".*partial"))
    # the bad entry was replaced by this run's
    [again] = kept(cache)
    assert (again / "journal.db").read_bytes() == (tmp_path / "a" / "journal.db").read_bytes()


def test_runs_into_another_journal_or_with_keeping_off_are_not_kept(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backtest(tmp_path / "a", *SHORT, "--no-report", "--journal", str(tmp_path / "j.db"))
    assert kept(cache) == []
    monkeypatch.setenv("AGENTFUND_RUN_CACHE", "off")
    backtest(tmp_path / "b", *SHORT, "--no-report")
    backtest(tmp_path / "c", *SHORT, "--no-report")
    assert kept(cache) == []


def test_an_output_directory_holding_that_journal_is_refused_as_before(
        cache: Path, tmp_path: Path) -> None:
    backtest(tmp_path / "a", *SHORT, "--no-report")
    done = run_fund("backtest", str(CONFIG), "--out", str(tmp_path / "a"), *SHORT, "--no-report")
    assert done.returncode != 0
    assert "already holds a stream for actor rebalancer" in done.stderr
    assert COPIED not in done.stderr


def test_only_the_most_recently_used_runs_are_kept(cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_cache, "KEEP", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.db").write_bytes(b"not read when keeping")
    for when, key in enumerate(("k3", "k2", "k1")):  # oldest first
        _keep(key, out, {"head_hash": "h", "entries": 1})
        os.utime(cache / "runs" / key, (1_000_000 + when, 1_000_000 + when))
    assert [p.name for p in kept(cache)] == ["k1", "k2"]
    os.utime(cache / "runs" / "k2", (2_000_000, 2_000_000))  # used again (a copy touches it)
    _keep("k0", out, {"head_hash": "h", "entries": 1})
    assert [p.name for p in kept(cache)] == ["k0", "k2"]


def test_two_runs_keeping_the_same_key_at_once_leave_one_entry_and_no_warning(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.db").write_bytes(b"ours")
    entry = cache / "runs" / "k"
    remove = shutil.rmtree

    def theirs_lands_first(path: Any, *args: Any, **kwargs: Any) -> None:
        remove(path, *args, **kwargs)
        if Path(path) == entry:  # the other process renames its entry into place now
            entry.mkdir(parents=True)
            (entry / "manifest.json").write_text("{}", encoding="utf-8")

    monkeypatch.setattr(run_cache.shutil, "rmtree", theirs_lands_first)
    _keep("k", out, {"head_hash": "h", "entries": 1})
    assert capsys.readouterr().err == ""
    assert [p.name for p in (cache / "runs").iterdir()] == ["k"]  # no staging left behind
    assert (entry / "manifest.json").read_text(encoding="utf-8") == "{}"


def test_the_journal_is_copied_and_hashed_while_the_block_runs(
        cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # larger than one 16 MiB chunk of the hashing thread, and not a multiple of it
    journal = os.urandom((1 << 24) + 12_345)
    (out / "journal.db").write_bytes(journal)
    (out / "report.html").write_text("<p>report</p>", encoding="utf-8")
    summary = {"head_hash": "h", "entries": 3, "report": str(out / "report.html")}
    with run_cache.keeping("k", out) as keeper:
        # the copy is made in the staging directory, not yet under the key
        assert not (cache / "runs" / "k").exists()
        keeper.done(summary)
    [entry] = kept(cache)
    assert entry.name == "k"
    assert (entry / "journal.db").read_bytes() == journal
    assert (entry / "report.html").read_text(encoding="utf-8") == "<p>report</p>"
    manifest = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == {"journal_sha256": hashlib.sha256(journal).hexdigest(),
                        "head_hash": "h", "entries": 3}
    assert json.loads((entry / "summary.json").read_text(encoding="utf-8")) == summary
    assert [p.name for p in (cache / "runs").iterdir()] == ["k"]  # no staging left


def test_a_block_that_fails_keeps_nothing_and_leaves_no_staging(cache: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.db").write_bytes(b"journal")
    with pytest.raises(RuntimeError, match="report failed"), \
            run_cache.keeping("k", out):
        raise RuntimeError("report failed")
    assert list((cache / "runs").iterdir()) == []


@pytest.mark.parametrize("journal", ["missing", "wal", "none"])
def test_nothing_is_kept_of_a_journal_not_closed_or_without_a_key(
        cache: Path, tmp_path: Path, journal: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if journal != "missing":
        (out / "journal.db").write_bytes(b"journal")
    if journal == "wal":
        (out / "journal.db-wal").write_bytes(b"")
    with run_cache.keeping(None if journal == "none" else "k", out) as keeper:
        keeper.done({"head_hash": "h", "entries": 1})
    assert not (cache / "runs").exists() or list((cache / "runs").iterdir()) == []


def test_a_cache_it_cannot_write_to_is_said_in_one_line(
        cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.db").write_bytes(b"journal")
    cache.mkdir()
    (cache / "runs").write_text("a file where the directory goes", encoding="utf-8")
    with run_cache.keeping("k", out) as keeper:
        keeper.done({"head_hash": "h", "entries": 1})
    err = capsys.readouterr().err
    assert err.startswith(f"fund: could not keep the run in {cache / 'runs'}: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_summary_that_cannot_be_written_keeps_nothing_and_leaves_no_staging(
        cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "journal.db").write_bytes(b"journal")
    with pytest.raises(TypeError), run_cache.keeping("k", out) as keeper:
        keeper.done({"head_hash": object()})  # not JSON: raised, not swallowed
    assert list((cache / "runs").iterdir()) == []
