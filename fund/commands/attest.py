"""``fund keys generate``, ``fund publish`` and ``fund verify-proof``: the manager's key,
the heads feed, and a proof of equivocation anyone can check (fund/attest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from fund.attest import AttestError, check_proof, generate
from fund.errors import RunFailed, UsageError


def keys_generate(directory: Path, name: str) -> int:
    """Make the manager's key pair; print where and the fingerprint."""
    try:
        private, public, fingerprint = generate(directory, name)
    except AttestError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{directory}: {exc.strerror or exc}") from None
    print(f"private key: {private} (mode 0600: keep it secret; name it in [attest] key_file)")
    print(f"public key:  {public} (give it to investors)")
    print(f"fingerprint: {fingerprint}")
    return 0


def publish_heads(target: str, directory: Path) -> int:
    """Write the journal's checkpoints to the heads feed in ``directory``."""
    from fund.checkpoints import publish
    from fund.journal import open_journal

    with open_journal(target, must_exist=True) as journal:
        try:
            count = publish(journal, directory)
        except AttestError as exc:
            raise UsageError(str(exc)) from None
    print(f"{count} checkpoint(s) in {directory / 'heads.json'} (and heads.atom): serve or "
          "copy the folder where investors can read it")
    return 0


def verify_proof(path: Path) -> int:
    """Check an equivocation proof: exit 0 if it proves the key signed two histories."""
    try:
        proof = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the proof: {exc}") from None
    if not isinstance(proof, dict):
        raise UsageError(f"{path}: not an agentfund equivocation proof")
    try:
        print(f"valid proof: {check_proof(proof)}")
    except AttestError as exc:
        raise RunFailed(f"{path}: not a valid proof: {exc}") from None
    return 0


def check_published(journal: object, key_file: Path, heads: str | None,
                    proof_out: Path) -> list[str]:
    """What is wrong with the journal against the manager's key and published heads (a
    proof file is written on equivocation); empty when nothing is."""
    from fund.attest import load_public
    from fund.checkpoints import against_heads, read_feed
    from fund.journal import Journal

    assert isinstance(journal, Journal)
    try:
        public = load_public(key_file)
        published = read_feed(heads) if heads else []
    except AttestError as exc:
        raise UsageError(str(exc)) from None
    found = against_heads(journal, published, public)
    problems = list(found.problems)
    if found.forks:
        fork = found.forks[0]
        proof_out.write_text(json.dumps(fork.proof(public), indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")
        problems.insert(0, f"equivocation: key {fork.first.key} signed two histories of "
                           f"{fork.first.actor} at entry {fork.first.seq}; proof written to "
                           f"{proof_out} (check it with fund verify-proof)")
    return problems
