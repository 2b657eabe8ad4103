"""A backtest signs its End: the checkpoint is deterministic, checked, and keeps the key out.

``fund backtest`` with ``[attest] key_file`` (a real subprocess, W1 on the sample data for
a week) ends with a ``Checkpoint`` over its ``End``. Ed25519 signatures are deterministic,
so two runs still give byte-identical journals; ``fund verify --key`` accepts the
manager's public key and refuses another, naming the checkpoint's entry; the private key
appears nowhere the run wrote, and a key file others may read is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from fund.attest import generate, load_public, valid
from fund.canonical import loads
from fund.journal import open_journal
from fund.messages import Checkpoint
from tests.conftest import EXAMPLES, run_fund

WEEK = ("--set", "backtest.end=2024-01-07")


def backtest(key: Path, out: Path) -> str:
    ran = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), *WEEK,
                   "--set", f"attest.key_file={key}", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    return ran.stdout + ran.stderr


def test_a_signed_backtest_ends_with_a_deterministic_checkpoint_over_its_end(
        tmp_path: Path) -> None:
    private, public, fingerprint = generate(tmp_path / "keys")
    _, other, _ = generate(tmp_path / "other")
    said = backtest(private, tmp_path / "a") + backtest(private, tmp_path / "b")
    with open_journal(str(tmp_path / "a" / "journal.db")) as store:
        *_, end, last = store.read("rebalancer")
    with open_journal(str(tmp_path / "b" / "journal.db")) as store:
        again = store.head("rebalancer")
    checkpoint = Checkpoint.from_payload(loads(last.payload))

    ok = run_fund("verify", str(tmp_path / "a" / "journal.db"), "--key", str(public))
    wrong = run_fund("verify", str(tmp_path / "a" / "journal.db"), "--key", str(other))

    assert (end.kind, last.kind) == ("End", "Checkpoint")
    assert (checkpoint.actor, checkpoint.seq, checkpoint.head) == ("rebalancer", end.seq,
                                                                   end.hash)
    assert checkpoint.fund == "w1-rebalance" and checkpoint.key == fingerprint
    assert checkpoint.at == end.ts and checkpoint.previous is None
    assert valid(checkpoint, load_public(public))
    assert again is not None and again.hash == last.hash  # byte-identical, signature too
    assert ok.returncode == 0, ok.stderr
    assert wrong.returncode == 1
    assert (f"rebalancer: FAILED at entry {last.seq}: a checkpoint not signed by the "
            "manager's key") in wrong.stderr
    secret = private.read_text().splitlines()[1]  # the PEM body: the key itself
    for written in [*(tmp_path / "a").rglob("*"), *(tmp_path / "b").rglob("*")]:
        if written.is_file():
            assert secret.encode() not in written.read_bytes(), written
    assert secret not in said and str(private) not in said


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    private, _, _ = generate(tmp_path / "keys")
    os.chmod(private, 0o644)

    ran = run_fund("backtest", str(EXAMPLES / "rebalance.toml"), *WEEK,
                   "--set", f"attest.key_file={private}", "--out", str(tmp_path / "out"))

    assert ran.returncode == 2
    assert ran.stderr.startswith("fund: error: ") and ran.stderr.count("\n") == 1
    assert str(private) in ran.stderr and "Traceback" not in ran.stderr
    assert not (tmp_path / "out").exists()
