"""Checkpoints in journals and in the published heads feed (the signing is fund/attest.py).

* :class:`Attestor` — signs a checkpoint of an actor's stream and appends it (the daemon,
  every ``[attest] every_s`` and at shutdown; a backtest, after its End).
* :func:`publish` — writes the heads feed: every checkpoint of a journal, as
  ``heads.json`` (the feed) and ``heads.atom`` (the same, for feed readers), append-only:
  a feed is never rewritten to drop a checkpoint it once held.
* :func:`read_feed` — the feed from a file or a URL; :func:`against_heads` — what a journal
  says against a feed: rewritten history, truncation, equivocation.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from fund.attest import (
    AttestError,
    Fork,
    digest,
    fingerprint,
    forks,
    load_private,
    sign,
    valid,
)
from fund.canonical import format_ts, loads, parse_ts
from fund.config import FundConfig
from fund.journal import EntryFilter, Journal
from fund.messages import CHECKPOINT, Checkpoint, is_side_stream
from fund.runtime import ActorRuntime

FEED_FORMAT = "agentfund-heads"


class Attestor:
    """Signs checkpoints of actors' streams with the manager's key."""

    def __init__(self, key: Ed25519PrivateKey, fund: str | None) -> None:
        self.key, self.fund = key, fund
        self.signed: dict[str, datetime] = {}  # when each actor was last checkpointed

    @property
    def fingerprint(self) -> str:
        """The signing key's fingerprint (what checkpoints name)."""
        return fingerprint(self.key.public_key())

    def due(self, runtime: ActorRuntime, every: Any) -> bool:
        """Whether the actor's last checkpoint (this process's, or the journal's) is at
        least ``every`` old."""
        actor = runtime.writer.process_id
        if actor not in self.signed:
            last = last_checkpoint(runtime.writer.journal, actor)
            self.signed[actor] = parse_ts(last[1].at) if last else datetime.min.replace(
                tzinfo=UTC)
        return bool(runtime.clock.now() - self.signed[actor] >= every)

    def checkpoint(self, runtime: ActorRuntime) -> Checkpoint | None:
        """Sign the actor's stream at its head and append the checkpoint (after writing
        what is pending); nothing when the head is already checkpointed."""
        writer = runtime.writer
        writer.flush()
        last = last_checkpoint(writer.journal, writer.process_id)
        if last is not None and last[0] == writer.last_seq:
            return None  # the head is the last checkpoint itself: nothing new to sign
        signed = sign(self.key, fund=self.fund, actor=writer.process_id, seq=writer.last_seq,
                      head=writer.head_hash, at=format_ts(runtime.clock.now()),
                      previous=digest(last[1]) if last is not None else None)
        runtime.recorded(signed)
        writer.flush()
        self.signed[writer.process_id] = runtime.clock.now()
        return signed


def signer(config: FundConfig) -> Attestor | None:
    """The fund's signer, when its config has ``[attest]`` (AttestError saying why the key
    named cannot be used)."""
    if config.attest is None:
        return None
    path = config.attest.key_path()
    if path is None:
        raise AttestError(f"attest: the environment variable {config.attest.key_env} naming "
                          "the key file is not set")
    try:
        return Attestor(load_private(path), config.name)
    except AttestError as exc:
        raise AttestError(f"attest: {exc}") from None


def last_checkpoint(journal: Journal, actor: str) -> tuple[int, Checkpoint] | None:
    """The stream's last checkpoint entry: its position and its checkpoint."""
    found = list(journal.read(actor, EntryFilter(kinds=(CHECKPOINT,), limit=1,
                                                 descending=True)))
    if not found:
        return None
    return found[0].seq, Checkpoint.from_payload(loads(found[0].payload))


def journal_checkpoints(journal: Journal) -> Iterator[Checkpoint]:
    """Every checkpoint entry of every actor stream, stream by stream, in order."""
    for stream in journal.processes():
        if is_side_stream(stream):
            continue
        for entry in journal.read(stream, EntryFilter(kinds=(CHECKPOINT,))):
            yield Checkpoint.from_payload(loads(entry.payload))


def feed_document(checkpoints: Iterable[Checkpoint]) -> dict[str, Any]:
    """The heads feed: the format, and the checkpoints by actor and position."""
    ordered = sorted(checkpoints, key=lambda c: (c.actor, c.seq, c.head))
    return {"format": FEED_FORMAT, "version": 1,
            "checkpoints": [c.to_payload() for c in ordered]}


def publish(journal: Journal, directory: Path) -> int:
    """Write the journal's checkpoints to ``directory``/heads.json (and heads.atom);
    refuse to drop a checkpoint an earlier publication holds. Returns how many."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = list(journal_checkpoints(journal))
    target = directory / "heads.json"
    if target.exists():
        held = {_key(c) for c in fresh}
        dropped = [c for c in read_feed(str(target)) if _key(c) not in held]
        if dropped:
            raise AttestError(f"{target} holds {len(dropped)} checkpoint(s) this journal "
                              f"does not (first: {dropped[0].actor} at entry "
                              f"{dropped[0].seq}): a published feed is never rewritten")
    document = feed_document(fresh)
    _write(target, json.dumps(document, indent=1, sort_keys=True) + "\n")
    _write(directory / "heads.atom", _atom(document["checkpoints"]))
    return len(fresh)


def _key(checkpoint: Checkpoint) -> tuple[str, int, str, str]:
    return checkpoint.actor, checkpoint.seq, checkpoint.head, checkpoint.signature


def _write(path: Path, text: str) -> None:
    """Write a file whole or not at all (a temporary file renamed over it)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def _atom(checkpoints: list[dict[str, Any]]) -> str:
    updated = max((c["at"] for c in checkpoints), default=format_ts(datetime.now(UTC)))
    entries = "".join(
        f"<entry><id>urn:agentfund:checkpoint:{escape(c['actor'])}:{c['seq']}:"
        f"{c['head']}</id><title>{escape(c['actor'])} at entry {c['seq']}</title>"
        f"<updated>{escape(c['at'])}</updated><content type=\"text\">"
        f"{escape(json.dumps(c, sort_keys=True))}</content></entry>" for c in checkpoints)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>agentfund heads</title>'
            f"<id>urn:agentfund:heads</id><updated>{escape(updated)}</updated>"
            f"{entries}</feed>\n")


def read_feed(where: str, *, deadline: float = 30.0) -> list[Checkpoint]:
    """The checkpoints of a heads feed: a file, or an http(s) URL (one bounded fetch)."""
    if where.startswith(("http://", "https://")):
        from agentfund.oracles.http import Fetcher

        try:
            with Fetcher(deadline=deadline, min_interval=0, retries=1) as fetcher:
                body = fetcher.fetch(where).body
        except Exception as exc:  # noqa: BLE001 - FetchError, and anything httpx raises
            raise AttestError(f"heads feed {exc}") from None
    else:
        try:
            body = Path(where).read_bytes()
        except OSError as exc:
            raise AttestError(f"heads feed {where}: {exc.strerror or exc}") from None
    try:
        document = json.loads(body)
        if document.get("format") != FEED_FORMAT:
            raise ValueError("not an agentfund heads feed")
        if int(document.get("version", 0)) > 1:
            raise ValueError(f"feed version {document['version']} is newer than this "
                             "agentfund reads (1)")
        return [Checkpoint.from_payload(c) for c in document["checkpoints"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AttestError(f"heads feed {where}: {exc}") from None


@dataclass(slots=True)
class Findings:
    """What checking a journal against published heads found (empty: all is well)."""

    problems: list[str] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    checked: int = 0


def against_heads(journal: Journal, published: list[Checkpoint],
                  public: Ed25519PublicKey) -> Findings:
    """Check the journal against the published checkpoints and its own, with the key."""
    found = Findings()
    recorded = list(journal_checkpoints(journal))
    for checkpoint in [*published, *recorded]:
        if not valid(checkpoint, public):
            found.problems.append(f"checkpoint of {checkpoint.actor} at entry "
                                  f"{checkpoint.seq} is not signed by key "
                                  f"{fingerprint(public)}")
    if found.problems:
        return found
    found.forks = forks([*published, *recorded])
    latest: dict[str, Checkpoint] = {}
    for checkpoint in published:
        found.checked += 1
        known = latest.get(checkpoint.actor)
        if known is None or checkpoint.seq > known.seq:
            latest[checkpoint.actor] = checkpoint
        entry = next(iter(journal.read(checkpoint.actor, EntryFilter(
            first_seq=checkpoint.seq, limit=1))), None)
        if entry is None or entry.seq != checkpoint.seq:
            continue  # beyond the journal's end: reported as truncation below
        if entry.hash != checkpoint.head:
            found.problems.append(
                f"history rewritten after publication: entry {checkpoint.seq} of "
                f"{checkpoint.actor} is not the published head {checkpoint.head[:16]}…")
    for actor, checkpoint in sorted(latest.items()):
        head = journal.head(actor)
        if head is None or head.seq < checkpoint.seq:
            found.problems.append(
                f"truncated: {actor}'s published head is entry {checkpoint.seq}, the "
                f"journal ends at entry {head.seq if head else 0}")
    return found
