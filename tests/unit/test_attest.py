"""The manager's key, signed checkpoints and equivocation proofs (fund/attest.py)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fund.attest import (
    AttestError,
    check_proof,
    digest,
    fingerprint,
    forks,
    generate,
    load_private,
    load_public,
    sign,
    valid,
)
from fund.messages import Checkpoint

HEAD_A, HEAD_B = "a" * 64, "b" * 64


def checkpoint(key: Ed25519PrivateKey, head: str = HEAD_A, seq: int = 7,
               previous: str | None = None) -> Checkpoint:
    return sign(key, fund="w1", actor="rebalancer", seq=seq, head=head,
                at="2024-03-01T00:00:00.000000Z", previous=previous)


def test_a_generated_key_is_private_to_its_owner_and_its_public_half_reads_back(
        tmp_path: Path) -> None:
    private, public, printed = generate(tmp_path)

    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = load_private(private)
    assert fingerprint(load_public(public)) == fingerprint(key.public_key()) == printed
    assert printed.startswith("af:") and len(printed) == 22
    with pytest.raises(AttestError, match="exists: not overwritten"):
        generate(tmp_path)


def test_a_private_key_others_may_read_is_refused(tmp_path: Path) -> None:
    private, _, _ = generate(tmp_path)
    os.chmod(private, 0o640)

    with pytest.raises(AttestError, match=r"readable by others \(mode 0640\): chmod 600"):
        load_private(private)


def test_a_checkpoint_is_valid_under_its_key_only_and_not_once_altered() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = checkpoint(key)

    assert valid(signed, key.public_key())
    assert not valid(signed, other.public_key())
    for change in ({"head": HEAD_B}, {"seq": 8}, {"at": "2024-03-02T00:00:00.000000Z"},
                   {"previous": "c" * 64}, {"fund": "other"}):
        altered = Checkpoint.from_payload({**signed.to_payload(), **change})
        assert not valid(altered, key.public_key()), change


def test_checkpoints_chain_by_digest() -> None:
    key = Ed25519PrivateKey.generate()
    first = checkpoint(key)
    second = checkpoint(key, seq=20, previous=digest(first))

    assert second.previous == digest(first) != digest(second)
    assert valid(second, key.public_key())


def test_two_heads_for_one_position_are_a_fork_with_a_proof_anyone_can_check(
        tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    one, two = checkpoint(key, HEAD_A), checkpoint(key, HEAD_B)

    [fork] = forks([one, checkpoint(key, HEAD_A, seq=3), two])
    proof = fork.proof(key.public_key())
    said = check_proof(json.loads(json.dumps(proof)))

    assert "signed two different histories of actor rebalancer at entry 7" in said
    altered = json.loads(json.dumps(proof))
    altered["checkpoints"][1]["head"] = HEAD_A  # now they agree: nothing proven
    with pytest.raises(AttestError):
        check_proof(altered)
    forged = json.loads(json.dumps(proof))
    forged["checkpoints"][1]["head"] = "c" * 64  # no longer the signed bytes
    with pytest.raises(AttestError, match="not signed by the proof's key"):
        check_proof(forged)


def test_a_proof_under_another_key_proves_nothing() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    [fork] = forks([checkpoint(key, HEAD_A), checkpoint(key, HEAD_B)])

    proof = fork.proof(other.public_key())  # the checkpoints are key's, not other's

    with pytest.raises(AttestError, match="not signed by the proof's key"):
        check_proof(proof)
