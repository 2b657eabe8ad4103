"""Signed checkpoints: the manager's word on a stream's head, which they cannot take back.

A manager holds an Ed25519 key (``fund keys generate``: the private key file is created
0600, and refused when others may read it). The daemon signs a *checkpoint* of each
actor's stream every ``[attest] every_s`` and at shutdown, a backtest signs its End: the
fund, the actor, the position and hash of the stream's head, the logical time, the key's
fingerprint and the digest of the actor's previous checkpoint. A checkpoint is a journal
entry (it follows the entry it signs) and is published in a *heads feed* (``fund publish``:
a static JSON file, with an Atom view) that investors copy and compare.

Whoever holds the public key can then check a journal against what was published: every
published head must be in the journal at its position (history was not rewritten after
it), and the journal must reach the latest one (it was not cut short). Two checkpoints
signed by the same key for the same position with different heads are *equivocation*:
the manager has shown two histories; the pair is a small, portable proof anyone can check.
The private key never enters a journal, a log line, a feed or the UI: only its
fingerprint does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fund.canonical import dumps
from fund.messages import Checkpoint

PUBLIC_PREFIX = "agentfund-ed25519"
PROOF_FORMAT = "agentfund-equivocation"


class AttestError(Exception):
    """A key, a signature, a feed or a proof cannot be used; the message says why."""


def fingerprint(public: Ed25519PublicKey) -> str:
    """A short name for a public key: ``af:`` and 16 hex digits of its sha256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return "af:" + ":".join(digest[i:i + 4] for i in range(0, 16, 4))


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as one line: ``agentfund-ed25519 BASE64 FINGERPRINT``."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{PUBLIC_PREFIX} {base64.b64encode(raw).decode()} {fingerprint(public)}\n"


def parse_public(text: str, where: str) -> Ed25519PublicKey:
    """Read a public key line (see :func:`public_text`)."""
    parts = text.split()
    try:
        if len(parts) < 2 or parts[0] != PUBLIC_PREFIX:
            raise ValueError("not an agentfund public key")
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(parts[1], validate=True))
    except ValueError as exc:
        raise AttestError(f"{where}: {exc} (expected '{PUBLIC_PREFIX} BASE64 …')") from None
    if len(parts) > 2 and parts[2] != fingerprint(key):
        raise AttestError(f"{where}: the fingerprint {parts[2]} does not match the key")
    return key


def generate(directory: Path, name: str = "manager") -> tuple[Path, Path, str]:
    """Make a key pair in ``directory``: NAME.key (private, 0600) and NAME.pub; refuse to
    overwrite either. Returns both paths and the fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (private, public):
        if path.exists():
            raise AttestError(f"{path} exists: not overwritten (choose another --name)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public.write_text(public_text(key.public_key()), encoding="utf-8")
    return private, public, fingerprint(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    """Read a private key file; refuse one that others than its owner may read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise AttestError(f"{path}: cannot read the key: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AttestError(f"{path}: the private key is readable by others "
                          f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AttestError(f"{path}: not a private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AttestError(f"{path}: not an Ed25519 key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """Read a public key file (``fund keys generate`` writes NAME.pub)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AttestError(f"{path}: cannot read the public key: {exc}") from None
    return parse_public(text, str(path))


def signed_body(checkpoint: Checkpoint) -> bytes:
    """The bytes a checkpoint's signature covers: its canonical JSON without the signature."""
    body = checkpoint.to_payload()
    body.pop("signature", None)
    return dumps(body).encode()


def digest(checkpoint: Checkpoint) -> str:
    """A checkpoint's own digest (what the next checkpoint names as ``previous``)."""
    return hashlib.sha256(signed_body(checkpoint)).hexdigest()


def sign(key: Ed25519PrivateKey, *, fund: str | None, actor: str, seq: int, head: str,
         at: str, previous: str | None) -> Checkpoint:
    """A signed checkpoint of ``actor``'s stream at ``seq`` (hash ``head``)."""
    unsigned = Checkpoint(fund=fund, actor=actor, seq=seq, head=head, at=at,
                          previous=previous, key=fingerprint(key.public_key()), signature="")
    signature = key.sign(signed_body(unsigned))
    return Checkpoint(**{**unsigned.to_payload(),
                         "signature": base64.b64encode(signature).decode()})


def valid(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    """Whether the checkpoint is signed by this key."""
    if checkpoint.key != fingerprint(public):
        return False
    try:
        public.verify(base64.b64decode(checkpoint.signature, validate=True),
                      signed_body(checkpoint))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Fork:
    """Two checkpoints signed by one key for one position of one stream, different heads."""

    first: Checkpoint
    second: Checkpoint

    def proof(self, public: Ed25519PublicKey) -> dict[str, Any]:
        """The portable proof: both signed checkpoints and the key that signed them."""
        return {"format": PROOF_FORMAT, "version": 1, "key": public_text(public).strip(),
                "checkpoints": [self.first.to_payload(), self.second.to_payload()]}


def forks(checkpoints: Iterable[Checkpoint]) -> list[Fork]:
    """Every pair of checkpoints for the same (fund, actor, position) with other heads."""
    seen: dict[tuple[str | None, str, int], Checkpoint] = {}
    found = []
    for checkpoint in checkpoints:
        where = (checkpoint.fund, checkpoint.actor, checkpoint.seq)
        other = seen.setdefault(where, checkpoint)
        if other.head != checkpoint.head:
            found.append(Fork(other, checkpoint))
    return found


def check_proof(proof: Mapping[str, Any]) -> str:
    """Say what a proof proves, or raise AttestError saying why it proves nothing."""
    if proof.get("format") != PROOF_FORMAT:
        raise AttestError("not an agentfund equivocation proof")
    public = parse_public(str(proof.get("key", "")), "the proof's key")
    try:
        first, second = (Checkpoint.from_payload(c) for c in proof["checkpoints"])
    except (KeyError, TypeError, ValueError):
        raise AttestError("the proof does not hold two checkpoints") from None
    for checkpoint in (first, second):
        if not valid(checkpoint, public):
            raise AttestError(f"checkpoint of {checkpoint.actor} at entry {checkpoint.seq} "
                              "is not signed by the proof's key")
    if (first.fund, first.actor, first.seq) != (second.fund, second.actor, second.seq):
        raise AttestError("the two checkpoints are not of the same position")
    if first.head == second.head:
        raise AttestError("the two checkpoints agree: nothing is proven")
    return (f"key {fingerprint(public)} signed two different histories of actor "
            f"{first.actor} at entry {first.seq}: {first.head[:16]}… and "
            f"{second.head[:16]}…")
