"""``fund audit``: an outside investor's verdict and HTML audit of a real fund.

The fund is W1 with investors (examples/investors.toml) over ten days of the sample
data, hourly, run the way the daemon runs it: a checkpoint signed every day and at the
end, an operator's kill and resume on the record, a drawdown limit that halts it. Its
checkpoints are published to a heads feed; the investor has only the journal file, the
public key and the feed. What the audit shows is checked against the journal's entries
read here with plain SQLite, never against the audit's own code.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from agentfund.backtests.engine import plan_backtest
from fund.attest import generate, load_private
from fund.canonical import dumps, format_ts
from fund.checkpoints import Attestor, publish
from fund.clock import SimulatedClock
from fund.config import load_config
from fund.exchange.paper import PaperAdapter
from fund.inbox import apply
from fund.journal import JournalWriter, open_journal
from fund.messages import COMMAND, commands_stream
from fund.node import Flow, Node, build_runtime, timeline
from fund.runtime import ActorRuntime
from fund.schedule import cron_trigger, fire_times
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.tamper import rehash_from, tampering

ACTOR = "rebalancer"
START, END = datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC)
SIGN_EVERY = 24  # wakes
KILL_AT, RESUME_AT = 100, 130  # wakes


@dataclass(frozen=True)
class Fund:
    journal: Path
    feed: Path
    public: Path
    private: Path


def command(runtime: ActorRuntime, name: str, reason: str) -> None:
    """An operator's command as the daemon takes it: queued, then applied."""
    payload = {"command": name, "reason": reason, "by": "ops@fund"}
    writer = JournalWriter(runtime.writer.journal, commands_stream(ACTOR))
    queued = writer.append(COMMAND, format_ts(runtime.clock.now()), payload)
    writer.flush()
    apply(runtime, queued.seq, payload)


@pytest.fixture(scope="module")
def fund(tmp_path_factory: pytest.TempPathFactory) -> Fund:
    folder = tmp_path_factory.mktemp("audit")
    private, public, _ = generate(folder / "keys")
    config = load_config(EXAMPLES / "investors.toml", [
        f"actors.{ACTOR}.risk.max_drawdown=0.05"])
    spec = config.actors[0]
    assert spec.accounting is not None
    plan = plan_backtest(config, start=START, end=END)
    period = plan.periods[ACTOR]
    wakes = list(fire_times(cron_trigger(spec.cron), period.start, period.end))
    clock = SimulatedClock(wakes[0])
    with open_journal(str(folder / "journal.db")) as store:
        runtime = build_runtime(spec, store, clock=clock, sources=plan.history(period),
                                adapter=PaperAdapter(fee_rate=spec.terms.fee_rate,
                                                     slippage_bps=spec.terms.slippage_bps))
        runtime.open(config.initial_cash[ACTOR])
        flows = [Flow(at=f.at, investor=f.investor, kind=f.kind, amount=f.amount,
                      units=f.units, reason="flow") for f in config.flows]
        node = Node(runtime, timeline(spec, wakes, flows=flows, valuations=fire_times(
            cron_trigger(spec.accounting.valuation_cron), wakes[0], period.end)))
        attestor = Attestor(load_private(private), config.name)
        woken = 0
        for step in node.timeline.until(period.end):
            clock.set_time(max(step.at, clock.now()))
            node.run(step)
            woken += step.kind == "wake"
            if step.kind == "wake" and woken % SIGN_EVERY == 0:
                attestor.checkpoint(runtime)
            if step.kind == "wake" and woken in (KILL_AT, RESUME_AT):
                command(runtime, "kill" if woken == KILL_AT else "resume", "audit test")
        clock.set_time(max(period.end, clock.now()))
        node.finish(period.end)
        attestor.checkpoint(runtime)
        publish(store, folder / "feed")
    return Fund(folder / "journal.db", folder / "feed" / "heads.json", public, private)


def entries(journal: Path, stream: str = ACTOR, kind: str | None = None
            ) -> list[tuple[int, str, str, dict[str, Any]]]:
    """(seq, kind, ts, payload) of a stream's entries, read with plain SQLite."""
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT seq, kind, ts, payload FROM journal_entries WHERE "
                          "process_id = ? ORDER BY seq", (stream,)).fetchall()
    return [(seq, k, ts, json.loads(payload)) for seq, k, ts, payload in rows
            if kind is None or k == kind]


def audit(fund: Fund, tmp_path: Path, *extra: str, journal: Path | None = None,
          ) -> tuple[int, str, str, str]:
    """Run ``fund audit``: exit code, stdout, stderr and the HTML written."""
    out = tmp_path / "audit.html"
    done = run_fund("audit", str(journal or fund.journal), "--key", str(fund.public),
                    "--heads", str(fund.feed), "--out", str(out), *extra)
    return (done.returncode, done.stdout, done.stderr,
            out.read_text(encoding="utf-8") if out.exists() else "")


def cents(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def test_an_honest_fund_passes_and_the_page_shows_the_journals_figures(
        fund: Fund, tmp_path: Path) -> None:
    code, stdout, stderr, page = audit(fund, tmp_path, "--investor", "alice")

    assert code == 0, stderr
    stream, commands = entries(fund.journal), entries(fund.journal, commands_stream(ACTOR))
    signed = entries(fund.journal, kind="Checkpoint")
    assert f"{ACTOR}: verified {len(stream)} entries, head" in stdout
    assert f"{ACTOR}.commands: verified {len(commands)} entries" in stdout
    assert f"checkpoints: {len(signed)} checkpoint(s), all signed by" in stdout
    assert len(signed) == len(entries(fund.journal, kind="Wake")) // SIGN_EVERY + 1
    assert "VERIFIED" in page and "FAILED" not in page
    # the signature timeline: one row per checkpoint, each valid and in the feed
    assert f"{len(signed)} checkpoint(s)." in page
    for _, _, _, checkpoint in signed:
        assert f"<td>{checkpoint['seq']}</td>" in page and checkpoint["head"] in page
    assert page.count(">valid<") == len(signed)
    # NAV per share: the last valuation point's, as the Valuation entry records it
    valuations = [payload for _, _, _, payload in entries(fund.journal, kind="Valuation")]
    last_price = Decimal(valuations[-1]["price"])
    assert f"{last_price.quantize(Decimal('0.0001')):,}" in page
    assert f'title="{valuations[-1]["price"]}"' in page
    # fees: the sum of every valuation point's, to the cent
    management = sum(Decimal(v["management_fee"]) for v in valuations)
    performance = sum(Decimal(v["performance_fee"]) for v in valuations)
    assert f">{cents(management)}<" in page and f">{cents(performance)}<" in page
    assert "fees add up" in page
    # the books' NAV equals the End entry's
    (_, _, _, end), = entries(fund.journal, kind="End")
    assert f">{cents(Decimal(end['nav']))}<" in page
    # alice's units after her last change
    units = [v["investors"]["alice"]["units"] for v in valuations if "alice" in v["investors"]]
    assert units and f"<td>{units[-1]}</td>" in page
    # the code that ran
    (_, _, _, start), = entries(fund.journal, kind="Start")
    assert start["code"]["strategy_source"] in page and ">the same<" in page
    # every halt and operator command, with its time
    halts = entries(fund.journal, kind="Halt")
    assert halts, "the drawdown limit should have halted the fund"
    for _, _, ts, _ in halts + entries(fund.journal, kind="Control") + commands:
        assert ts[:19].replace("T", " ") in page
    assert page.count("<td>command=kill ") == 2  # queued, then applied
    assert page.count("<td>command=resume ") == 2
    # self-contained (the charts are plotly's, plotly.js inline once: no external src or
    # href, no link, no import), and nothing secret in it
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S | re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.IGNORECASE)
    assert "<link" not in markup.lower() and "@import" not in page
    tags = re.findall(r"<script[^>]*>", page, re.I)
    assert not [t for t in tags if "src" in t.lower()]
    assert page.count("Plotly.newPlot(") >= 2
    assert page.count("<script type=\"text/javascript\">") == 1  # plotly.js, once
    secret = "".join(fund.private.read_text().splitlines()[1:-1])
    assert secret[:20] not in page and "PRIVATE KEY" not in page


def test_a_tampered_journal_fails_and_the_page_says_where(fund: Fund, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.db"
    shutil.copyfile(fund.journal, tampered)
    seq, _, _, fill = entries(tampered, kind="Fill")[2]
    fill["price"] = str(Decimal(fill["price"]) * 2)
    with tampering(f"sqlite:///{tampered}") as db:  # the edit, and the chain re-hashed after
        db.execute(text("UPDATE journal_entries SET payload = :p WHERE process_id = :a AND "
                        "seq = :s"), {"p": dumps(fill), "a": ACTOR, "s": seq})
        rehash_from(db, ACTOR, seq)

    code, stdout, stderr, page = audit(fund, tmp_path, journal=tampered)

    assert code == 1
    assert f"{ACTOR}: FAILED at entry {seq}:" in stdout
    assert "history rewritten after publication" in stdout
    assert stderr.startswith("fund: audit FAILED") and stderr.count("\n") == 1
    assert "FAILED" in page and "VERIFIED" not in page
    assert f"entries folded</td><td>{seq - 1:,}" in page  # figures stop before the edit


def test_a_key_that_did_not_sign_is_refused(fund: Fund, tmp_path: Path) -> None:
    _, other, fingerprint = generate(tmp_path / "other")
    done = run_fund("audit", str(fund.journal), "--key", str(other), "--heads",
                    str(fund.feed), "--out", str(tmp_path / "audit.html"))

    assert done.returncode == 1
    assert f"not signed by key {fingerprint}" in done.stdout
    assert "a checkpoint not signed by the manager's key" in done.stdout
    assert done.stderr.startswith("fund: audit FAILED") and "Traceback" not in done.stderr


@pytest.mark.parametrize("case", ["not a key", "no feed", "unknown investor"])
def test_bad_input_is_one_line_and_exit_2(fund: Fund, tmp_path: Path, case: str) -> None:
    key, feed, extra = fund.public, fund.feed, ["--investor", "alice"]
    if case == "not a key":
        key = tmp_path / "manager.pub"
        key.write_text("ssh-ed25519 AAAA nobody\n")
    elif case == "no feed":
        feed = tmp_path / "missing" / "heads.json"
    else:
        extra = ["--investor", "mallory"]
    done = run_fund("audit", str(fund.journal), "--key", str(key), "--heads", str(feed),
                    "--out", str(tmp_path / "audit.html"), *extra)

    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("fund: error: ") and done.stderr.count("\n") == 1
    expected = {"not a key": "not an agentfund public key", "no feed": "heads feed",
                "unknown investor": "no investor 'mallory' in this fund (investors: "
                                    "alice, founder)"}[case]
    assert expected in done.stderr
