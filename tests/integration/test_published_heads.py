"""A journal against what its manager published: any rewrite after publication is caught.

A real stream (the W1 rules on the sample data, hourly) is written with a checkpoint
signed every ten wakes and published to a heads feed. Each example copies it, tampers
with the copy's tables as an attacker with write access would — one entry edited (with
the chain recomputed after it, or not), deleted, swapped with its neighbour, the stream
cut short — and checks that ``fund verify`` with the manager's public key and the feed
finds it, and says where: at the entry, or at the first published head after it.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from fund.attest import generate, load_private, load_public, sign
from fund.canonical import loads
from fund.checkpoints import against_heads, publish, read_feed
from fund.journal import open_journal
from fund.verify import verify_stream
from tests.conftest import run_fund
from tests.fixtures.journals import JournalUrls
from tests.fixtures.signed import signed_w1
from tests.fixtures.tamper import copy_journal, forge, rehash_from, tampering
from tests.fixtures.tamper import rows as stream_rows

ACTOR = "rebalancer"
T0 = datetime(2024, 3, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Published:
    journal: str
    feed: Path
    public: Path
    checkpoints: list[int]  # the positions published


@pytest.fixture(scope="module")
def published(module_store_urls: JournalUrls,
              tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Forty hourly wakes of W1, a checkpoint every ten, published to a feed."""
    folder = tmp_path_factory.mktemp("published")
    url = module_store_urls("published")
    _, public = signed_w1(url, folder / "keys", hours=40)
    with open_journal(url) as store:
        publish(store, folder / "feed")
        seqs = [c.seq for c in read_feed(str(folder / "feed" / "heads.json"))]
    return Published(url, folder / "feed" / "heads.json", public, seqs)


D = Decimal


def located(db: str, published: Published) -> tuple[bool, int | None]:
    """Whether the journal fails against the key and the feed, and the entry it names."""
    with open_journal(db) as store:
        public = load_public(published.public)
        report = verify_stream(store, ACTOR, key=public)
        found = against_heads(store, read_feed(str(published.feed)), public)
    if not report.ok:
        return True, report.seq
    if found.problems:
        problem = found.problems[0]
        if problem.startswith("truncated:"):  # "…, the journal ends at entry N"
            return True, int(problem.rsplit(" ", 1)[-1])
        named = [int(word) for word in problem.replace(",", " ").split() if word.isdigit()]
        return True, named[0] if named else None
    return False, None


def mutate(db: str, how: str, seq: int) -> None:
    """Tamper with entry ``seq`` of the copy, as an attacker with the database would."""
    with tampering(db) as conn:
        where = {"pid": ACTOR, "seq": seq}
        if how in ("edit", "edit-rechained"):
            payload = conn.execute(text("SELECT payload FROM journal_entries WHERE "
                                        "process_id = :pid AND seq = :seq"), where).scalar_one()
            changed = payload.replace("0", "1", 1) if "0" in payload else payload + " "
            conn.execute(text("UPDATE journal_entries SET payload = :p WHERE process_id = :pid "
                              "AND seq = :seq"), {**where, "p": changed})
            if how == "edit-rechained":
                rehash_from(conn, ACTOR, seq)
        elif how == "delete":
            conn.execute(text("DELETE FROM journal_entries WHERE process_id = :pid AND "
                              "seq = :seq"), where)
        elif how == "swap":
            a, b = (conn.execute(text("SELECT payload, kind FROM journal_entries WHERE "
                                      "process_id = :pid AND seq = :seq"),
                                 {"pid": ACTOR, "seq": s}).one() for s in (seq, seq + 1))
            for s, (payload, kind) in ((seq, b), (seq + 1, a)):
                conn.execute(text("UPDATE journal_entries SET payload = :p, kind = :k WHERE "
                                  "process_id = :pid AND seq = :seq"),
                             {"pid": ACTOR, "seq": s, "p": payload, "k": kind})
            rehash_from(conn, ACTOR, seq)
        elif how == "truncate":
            conn.execute(text("DELETE FROM journal_entries WHERE process_id = :pid AND "
                              "seq >= :seq"), where)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=st.sampled_from(["edit", "edit-rechained", "delete", "swap", "truncate"]),
       position=st.floats(0.0, 1.0))
def test_a_rewrite_after_publication_is_found_where_it_was_made(
        published: Published, scratch_urls: JournalUrls, how: str, position: float) -> None:
    last = published.checkpoints[-1]
    seq = 2 + int(position * (last - 3))  # an entry the published heads cover
    db = copy_journal(published.journal, scratch_urls("copy"))

    mutate(db, how, seq)
    caught, where = located(db, published)

    assert caught, f"{how} of entry {seq} went unnoticed"
    if how == "truncate":  # located where the journal now ends, before the published head
        assert where in (seq - 1, seq), (how, seq, where)  # the end, or a wake cut short
        return
    covering = min(c for c in published.checkpoints if c >= seq)
    assert where is not None and seq <= where <= covering + 1, (how, seq, where)


def test_the_untouched_journal_matches_its_feed(published: Published) -> None:
    assert located(published.journal, published) == (False, None)
    assert len(published.checkpoints) == 4


def test_a_feed_signed_by_another_key_is_refused(published: Published, tmp_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    document = json.loads(published.feed.read_text())
    first = document["checkpoints"][0]
    resigned = sign(other, fund=first["fund"], actor=first["actor"], seq=first["seq"],
                    head=first["head"], at=first["at"], previous=first.get("previous"))
    document["checkpoints"][0] = resigned.to_payload()
    feed = tmp_path / "heads.json"
    feed.write_text(json.dumps(document))

    with open_journal(published.journal) as store:
        found = against_heads(store, read_feed(str(feed)), load_public(published.public))

    assert found.problems == [f"checkpoint of rebalancer at entry {first['seq']} is not "
                              f"signed by key {json.loads(json.dumps(first))['key']}"]


def test_a_second_history_signed_by_the_manager_is_equivocation_with_a_proof(
        published: Published, scratch_urls: JournalUrls, tmp_path: Path) -> None:
    fork = copy_journal(published.journal, scratch_urls("fork"))
    last = published.checkpoints[-1]
    with open_journal(fork) as store:
        entry = next(iter(store.read(ACTOR)))  # a Start like any other: rewrite one later
    payload = loads(next(iter(r for r in stream_rows(fork, ACTOR) if r[1] == last - 3))[4])
    payload["reason"] = "rewritten"
    forge(fork, ACTOR, last - 3, payload)  # the manager rewrites, re-chains and re-signs
    key = load_private(published.public.with_suffix(".key"))
    with tampering(fork) as conn:
        conn.execute(text("DELETE FROM journal_entries WHERE process_id = :pid AND "
                          "seq >= :seq"), {"pid": ACTOR, "seq": last + 1})
    with open_journal(fork) as store:
        head = store.head(ACTOR)
        assert head is not None and entry.seq == 1
        resigned = sign(key, fund="w1", actor=ACTOR, seq=head.seq, head=head.hash,
                        at="2024-03-03T00:00:00.000000Z", previous=None)
    fork_feed = tmp_path / "fork.json"
    document = json.loads(published.feed.read_text())
    document["checkpoints"].append(resigned.to_payload())
    fork_feed.write_text(json.dumps(document))
    proof = tmp_path / "proof.json"

    verified = run_fund("verify", published.journal, "--key", str(published.public),
                        "--heads", str(fork_feed), "--proof", str(proof))
    checked = run_fund("verify-proof", str(proof))
    altered = json.loads(proof.read_text())
    altered["checkpoints"][0]["seq"] += 1
    (tmp_path / "altered.json").write_text(json.dumps(altered))
    refused = run_fund("verify-proof", str(tmp_path / "altered.json"))

    assert verified.returncode == 1, verified.stderr
    assert "equivocation" in verified.stdout + verified.stderr
    assert checked.returncode == 0 and "signed two different histories" in checked.stdout
    assert refused.returncode == 1 and refused.stderr.startswith("fund: ")


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_feed_that_cannot_be_read_is_a_one_line_error(
        published: Published, served: tuple[Path, str]) -> None:
    folder, url = served
    (folder / "garbage.json").write_bytes(b"<html>not a feed</html>")
    (folder / "other.json").write_text('{"format": "something-else"}')
    (folder / "newer.json").write_text('{"format": "agentfund-heads", "version": 7, '
                                       '"checkpoints": []}')
    unreachable = f"http://127.0.0.1:{closed_port()}/heads.json"
    cases = {unreachable: "heads feed ", f"{url}/missing.json": "404",
             f"{url}/garbage.json": "heads feed ", str(folder / "other.json"):
             "not an agentfund heads feed", f"{url}/newer.json": "version 7 is newer",
             str(folder / "absent.json"): "No such file"}

    results = {feed: run_fund("verify", published.journal, "--key", str(published.public),
                              "--heads", feed) for feed in cases}

    for feed, said in cases.items():
        result = results[feed]
        assert result.returncode == 2, (feed, result.stderr)
        assert result.stderr.startswith("fund: error: ") and result.stderr.count("\n") == 1
        assert said in result.stderr, (feed, result.stderr)
        assert "Traceback" not in result.stderr


def test_the_wrong_public_key_or_an_altered_feed_fails_verification(
        published: Published, tmp_path: Path) -> None:
    _, other, fingerprint = generate(tmp_path / "other")
    altered = json.loads(published.feed.read_text())
    altered["checkpoints"][1]["head"] = "0" * 64  # a published head changed, signature kept
    (tmp_path / "altered.json").write_text(json.dumps(altered))

    wrong_key = run_fund("verify", published.journal, "--key", str(other),
                         "--heads", str(published.feed))
    changed = run_fund("verify", published.journal, "--key", str(published.public),
                       "--heads", str(tmp_path / "altered.json"))
    right = run_fund("verify", published.journal, "--key", str(published.public),
                     "--heads", str(published.feed))

    assert wrong_key.returncode == 1 and f"not signed by key {fingerprint}" in wrong_key.stderr
    assert changed.returncode == 1
    assert (f"checkpoint of {ACTOR} at entry {published.checkpoints[1]} is not signed"
            in changed.stderr)
    assert right.returncode == 0, right.stderr
    assert "the journal matches the heads at" in right.stdout


def test_the_feed_has_an_atom_view_and_is_never_rewritten(
        published: Published, scratch_urls: JournalUrls, tmp_path: Path) -> None:
    atom = ElementTree.parse(published.feed.with_name("heads.atom")).getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = atom.findall("a:entry", ns)
    feed = json.loads(published.feed.read_text())["checkpoints"]
    fork = copy_journal(published.journal, scratch_urls("shorter"))
    with tampering(fork) as conn:  # the manager cut the stream back before its last head
        conn.execute(text("DELETE FROM journal_entries WHERE process_id = :pid AND "
                          "seq > :seq"), {"pid": ACTOR, "seq": published.checkpoints[-2]})
    folder = published.feed.parent
    before = published.feed.read_bytes()

    refused = run_fund("publish", fork, "--to", str(folder))

    assert len(entries) == len(feed) == len(published.checkpoints)
    assert [json.loads(e.findtext("a:content", namespaces=ns) or "") for e in entries] == feed
    assert refused.returncode == 2 and "a published feed is never rewritten" in refused.stderr
    assert published.feed.read_bytes() == before
