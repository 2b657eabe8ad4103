"""The portable bundle and the JSONL export: export, verify offline, import, bad input.

Journals are made by the real CLI (the W1 and sentiment examples, on SQLite and on
PostgreSQL) or by the real runtime reading a page over HTTP on 127.0.0.1 (a journal with a
blob). Bundles are read and altered here with :mod:`zipfile` and :mod:`hashlib` only, the
way another implementation following docs/bundle.md would, never through agentfund's own
bundle code; the expected head of every stream is the one ``fund backtest`` printed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentfund.oracles.http import Fetcher
from agentfund.oracles.web import WebPageOracle
from fund.actor import ActorSpec
from fund.attest import generate
from fund.clock import SimulatedClock
from fund.exchange.paper import PaperAdapter
from fund.journal import JournalWriter, open_journal
from fund.markets import Market
from fund.runtime import ActorRuntime
from fund.strategy import FundTerms
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.journals import JournalUrls
from tests.integration.news_server import NewsServer
from tests.integration.test_web_oracles import ARTICLE, AT, NoParams

SEP = "\x1f"
W1 = (EXAMPLES / "rebalance.toml", ())  # the whole of W1: 13,537 entries
SENTIMENT = (EXAMPLES / "sentiment.toml", ("--start", "2022-01-03", "--end", "2022-01-03"))
PAGE_READER = "tests.integration.test_web_oracles:HoldWithoutNews"
Members = dict[str, bytes]


# --- journals ----------------------------------------------------------------------------


def backtest(config: Path, extra: tuple[str, ...], journal: str, out: Path) -> dict[str, Any]:
    result = run_fund("backtest", str(config), "--out", str(out), "--journal", journal,
                      "--json", "--no-report", *extra)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def journal_with_a_page(url: str) -> dict[str, Any]:
    """One wake of an actor that read a web page: its body is a blob."""
    with NewsServer() as server, Fetcher(min_interval=0.0) as fetcher:
        server.add("/article", ARTICLE)
        store = open_journal(url)
        writer = JournalWriter(store, "reader")
        terms = FundTerms(quote="USD", fee_rate=Decimal("0.001"), slippage_bps=Decimal(0))
        spec = ActorSpec(actor_id="reader", strategy=PAGE_READER, params=NoParams(),
                         cron="0 * * * *", terms=terms, mode="paper",
                         markets={"BTC/USD": Market.parse("BTC/USD")})
        runtime = ActorRuntime(
            spec=spec, writer=writer, clock=SimulatedClock(AT),
            oracles={"news": WebPageOracle("news", [server.url("/article")], fetcher)},
            adapter=PaperAdapter(fee_rate=terms.fee_rate, slippage_bps=terms.slippage_bps))
        runtime.open(Decimal(1000))
        runtime.wake(AT)
        writer.flush()
        store.close()
    body = ARTICLE.encode() if isinstance(ARTICLE, str) else ARTICLE
    return {"journal": url, "head_hash": writer.head_hash, "entries": writer.last_seq,
            "blob": hashlib.sha256(body).hexdigest()}


def make(urls: Callable[[str], str], out: Path) -> dict[str, dict[str, Any]]:
    """The W1, sentiment and page journals."""
    return {"w1": backtest(*W1, urls("w1"), out / "w1"),
            "sentiment": backtest(*SENTIMENT, urls("sentiment"), out / "s"),
            "page": journal_with_a_page(urls("page"))}


@pytest.fixture(scope="module")
def made(module_store_urls: JournalUrls,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The journals, once per backend: for the round trips."""
    return make(module_store_urls, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The journals in SQLite files, and their bundles: what the file checks start from
    (a bundle is the same bytes whichever backend it came from: the round trips show it)."""
    out = tmp_path_factory.mktemp("files")
    runs = make(lambda name: str(out / f"{name}.db"), out)
    for name, run in runs.items():
        run["bundle"] = export_bundle(run["journal"], out / f"{name}.zip")
    return runs


@pytest.fixture
def w1_bundle(files: dict[str, dict[str, Any]], tmp_path: Path) -> Path:
    return Path(shutil.copy(files["w1"]["bundle"], tmp_path / "w1.zip"))


@pytest.fixture
def page_bundle(files: dict[str, dict[str, Any]], tmp_path: Path) -> Path:
    return Path(shutil.copy(files["page"]["bundle"], tmp_path / "page.zip"))


# --- helpers -------------------------------------------------------------------------------


def export_bundle(journal: str, path: Path) -> Path:
    result = run_fund("journal", "export", journal, "--bundle", str(path))
    assert result.returncode == 0, result.stderr
    return path


def export_jsonl(journal: str, path: Path) -> Path:
    result = run_fund("journal", "export", journal, "--out", str(path))
    assert result.returncode == 0, result.stderr
    return path


def import_into(source: Path, target: str) -> None:
    result = run_fund("journal", "import", str(source), target)
    assert result.returncode == 0, result.stderr


def members(path: Path) -> Members:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(path: Path, content: Members) -> Path:
    """Write members (in the order given) as a new, well-formed ZIP: an edit a tamperer
    makes with any ZIP tool, CRCs and all."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in content.items():
            archive.writestr(name, data)
    return path


def recomputed_head(stream: bytes) -> tuple[int, str]:
    """Check a stream member's chain by the rule docs/bundle.md states; (entries, head)."""
    prev, count = "0" * 64, 0
    for count, line in enumerate(stream.splitlines(), 1):
        fields = json.loads(line)
        assert list(fields) == ["process_id", "seq", "kind", "ts", "payload", "prev_hash",
                                "hash"]
        assert fields["seq"] == count and fields["prev_hash"] == prev
        text = SEP.join((fields["process_id"], str(fields["seq"]), fields["kind"],
                         fields["ts"], fields["prev_hash"], fields["payload"]))
        assert hashlib.sha256(text.encode()).hexdigest() == fields["hash"]
        prev = fields["hash"]
    return count, prev


def fails(result: Any, code: int) -> str:
    """The one line a failed command printed, after checking its exit code."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["w1", "sentiment", "page"])
def test_export_import_export_is_byte_identical(
        name: str, made: dict[str, dict[str, Any]], scratch_urls: JournalUrls,
        tmp_path: Path) -> None:
    run = made[name]
    first = export_bundle(run["journal"], tmp_path / "first.zip")
    imported = scratch_urls("imported")
    import_into(first, imported)
    second = export_bundle(imported, tmp_path / "second.zip")

    assert first.read_bytes() == second.read_bytes()
    content = members(first)
    manifest = json.loads(content["manifest.json"])
    [(actor, info)] = manifest["streams"].items()
    assert list(content)[:2] == ["manifest.json", f"streams/{actor}.jsonl"]
    assert recomputed_head(content[f"streams/{actor}.jsonl"]) == \
        (run["entries"], run["head_hash"]) == (info["entries"], info["head"])
    assert manifest["format"] == "agentfund-bundle" and manifest["version"] == 1
    start = json.loads(content[f"streams/{actor}.jsonl"].split(b"\n", 1)[0])["payload"]
    assert manifest["actors"][actor]["code"] == json.loads(start)["code"]
    blobs = sorted(n.removeprefix("blobs/") for n in content if n.startswith("blobs/"))
    assert manifest["blobs"] == len(blobs)
    assert blobs == ([run["blob"]] if name == "page" else [])
    for digest in blobs:
        assert hashlib.sha256(content[f"blobs/{digest}"]).hexdigest() == digest


@pytest.mark.parametrize("name", ["w1", "page"])
def test_a_jsonl_export_imports_and_exports_again_byte_identical(
        name: str, made: dict[str, dict[str, Any]], scratch_urls: JournalUrls,
        tmp_path: Path) -> None:
    run = made[name]
    first = export_jsonl(run["journal"], tmp_path / "first.jsonl")
    imported = scratch_urls("imported")
    import_into(first, imported)
    second = export_jsonl(imported, tmp_path / "second.jsonl")

    assert first.read_bytes() == second.read_bytes()
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    entries = [line for line in lines if "blob" not in line]
    assert len(entries) == run["entries"] and entries[-1]["hash"] == run["head_hash"]
    blob_lines = lines[len(entries):]
    assert [line["blob"] for line in blob_lines] == ([run["blob"]] if name == "page" else [])


@pytest.mark.parametrize("name", ["w1", "page"])
@pytest.mark.parametrize("form", ["bundle", "jsonl"])
def test_a_bundle_and_a_jsonl_export_verify_on_their_own(
        name: str, form: str, files: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    run = files[name]
    path = run["bundle"] if form == "bundle" else export_jsonl(run["journal"],
                                                                 tmp_path / "fund.jsonl")

    result = run_fund("verify", str(path))

    assert result.returncode == 0, result.stderr
    actor = "rebalancer" if name == "w1" else "reader"
    assert result.stdout.strip() == (f"{actor}: verified {run['entries']} entries, "
                                     f"head {run['head_hash']}")


def test_a_filtered_jsonl_export_has_no_blob_lines(files: dict[str, dict[str, Any]]) -> None:
    run = files["page"]
    whole = run_fund("journal", "export", run["journal"])
    observations = run_fund("journal", "export", run["journal"], "--kind", "Observation")

    assert whole.returncode == observations.returncode == 0
    assert whole.stdout.splitlines()[-1].startswith(f'{{"blob":"{run["blob"]}"')
    assert [json.loads(line)["kind"] for line in observations.stdout.splitlines()] == \
        ["Observation"]


# --- tampering: a verification failure, at the entry ----------------------------------------


def altered_stream(stream: bytes, seq: int, edit: Callable[[str], str]) -> bytes:
    lines = stream.split(b"\n")
    fields = json.loads(lines[seq - 1])
    fields["payload"] = edit(fields["payload"])
    lines[seq - 1] = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
    return b"\n".join(lines)


def test_an_entry_altered_in_a_bundle_fails_verification_at_that_entry(
        w1_bundle: Path, tmp_path: Path) -> None:
    content = members(w1_bundle)
    stream = content["streams/rebalancer.jsonl"]
    seq = next(n for n, line in enumerate(stream.splitlines(), 1)
               if json.loads(line)["kind"] == "Fill")
    content["streams/rebalancer.jsonl"] = altered_stream(
        stream, seq, lambda payload: payload.replace('"fee":"', '"fee":"0', 1))
    tampered = rezip(tmp_path / "tampered.zip", content)

    line = fails(run_fund("verify", str(tampered)), 1)

    assert line == (f"fund: rebalancer: FAILED at entry {seq}: content does not match its "
                    "hash (altered)")


def test_an_entry_altered_in_a_jsonl_export_fails_verification_at_that_entry(
        files: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    path = export_jsonl(files["w1"]["journal"], tmp_path / "w1.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    lines[41] = lines[41].replace('"ts":"2024-', '"ts":"2023-', 1)
    path.write_text("".join(lines))

    line = fails(run_fund("verify", str(path)), 1)

    assert line == "fund: rebalancer: FAILED at entry 42: content does not match its hash " \
                   "(altered)"


def test_a_blob_missing_from_a_jsonl_export_fails_at_the_entry_reading_it(
        files: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    run = files["page"]
    path = export_jsonl(run["journal"], tmp_path / "page.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not line.startswith('{"blob"')))
    seq = next(json.loads(line)["seq"] for line in lines if '"kind":"Observation"' in line)

    line = fails(run_fund("verify", str(path)), 1)

    assert line == f"fund: reader: FAILED at entry {seq}: blob {run['blob']} is missing"


# --- bad input: one line, exit 2 -------------------------------------------------------------


def test_a_truncated_bundle_is_refused(w1_bundle: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.zip"
    cut.write_bytes(w1_bundle.read_bytes()[: w1_bundle.stat().st_size // 2])

    for command in (("verify", str(cut)), ("journal", "import", str(cut),
                                           str(tmp_path / "new.db"))):
        line = fails(run_fund(*command), 2)
        assert line == f"fund: error: {cut}: truncated or damaged: not a complete ZIP " \
                       "archive (no central directory at its end)"
    assert not (tmp_path / "new.db").exists()


def test_a_corrupted_stream_member_is_reported_as_damage(w1_bundle: Path,
                                                         tmp_path: Path) -> None:
    data = bytearray(w1_bundle.read_bytes())
    with zipfile.ZipFile(w1_bundle) as archive:
        info = archive.getinfo("streams/rebalancer.jsonl")
    # the local header: 30 bytes, the name, the extra field; then the compressed data
    extra = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + len(info.filename) + extra
    data[start + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(bytes(data))

    line = fails(run_fund("verify", str(damaged)), 2)
    _, public, _ = generate(tmp_path / "keys")  # fund audit says the same, with any key
    (tmp_path / "heads.json").write_text('{"format": "agentfund-heads", "version": 1, '
                                         '"checkpoints": []}')
    audited = fails(run_fund("audit", str(damaged), "--key", str(public), "--heads",
                             str(tmp_path / "heads.json"), "--out",
                             str(tmp_path / "audit.html")), 2)

    assert line.startswith(f"fund: error: {damaged}: member streams/rebalancer.jsonl is "
                           "damaged: its ")
    assert audited == line


def test_a_bundle_of_an_unknown_format_version_is_refused(w1_bundle: Path,
                                                          tmp_path: Path) -> None:
    content = members(w1_bundle)
    manifest = json.loads(content["manifest.json"])
    manifest["version"] = 99
    content["manifest.json"] = json.dumps(manifest).encode()
    newer = rezip(tmp_path / "newer.zip", content)

    line = fails(run_fund("verify", str(newer)), 2)

    assert line == (f"fund: error: {newer}: bundle format version 99 is newer than this "
                    "agentfund reads (1)")


@pytest.mark.parametrize(("content", "problem"), [
    (b"hello, world\n", "not a journal: neither an SQLite database, an agentfund bundle "
                        "(ZIP) nor a JSONL export"),
    ({"readme.txt": b"hi"}, "not an agentfund bundle (its first member is not "
                            "manifest.json)"),
    ({"manifest.json": b'{"format": "something-else"}'},
     'not an agentfund bundle (manifest.json does not say "format": "agentfund-bundle")'),
])
def test_a_file_that_is_not_a_bundle_is_refused(content: bytes | Members, problem: str,
                                                tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        rezip(path, content)

    line = fails(run_fund("verify", str(path)), 2)

    assert line == f"fund: error: {path}: {problem}"


def test_a_bundle_missing_a_blob_is_refused(page_bundle: Path, tmp_path: Path) -> None:
    content = {name: data for name, data in members(page_bundle).items()
               if not name.startswith("blobs/")}
    short = rezip(tmp_path / "short.zip", content)

    line = fails(run_fund("verify", str(short)), 2)

    assert line == (f"fund: error: {short}: a blob is missing: it holds 0 blobs, its "
                    "manifest says 1 (truncated?)")


def test_a_stream_that_hashes_but_is_not_the_manifests_is_refused(
        w1_bundle: Path, tmp_path: Path) -> None:
    content = members(w1_bundle)
    manifest = json.loads(content["manifest.json"])
    stream = content["streams/rebalancer.jsonl"].splitlines(keepends=True)
    content["streams/rebalancer.jsonl"] = b"".join(stream[:-1])  # a shorter, valid chain
    manifest["streams"]["rebalancer"]["entries"] = len(stream) - 1
    content["manifest.json"] = json.dumps(manifest).encode()
    shortened = rezip(tmp_path / "shortened.zip", content)
    recorded = manifest["streams"]["rebalancer"]["head"]
    last = json.loads(stream[-2])["hash"]

    line = fails(run_fund("verify", str(shortened)), 2)

    assert line == (f"fund: error: {shortened}: stream rebalancer: its last entry's hash "
                    f"{last[:16]}… is not the manifest's head {recorded[:16]}…")


def test_export_refuses_filters_with_a_bundle(files: dict[str, dict[str, Any]],
                                             tmp_path: Path) -> None:
    bundle = tmp_path / "w1.zip"
    line = fails(run_fund("journal", "export", files["w1"]["journal"], "--bundle", str(bundle),
                          "--kind", "Fill", "--since", "2024-02-01"), 2)

    assert line == "fund: error: --bundle writes the whole fund to FILE: drop --kind, --since"
    assert not bundle.exists()


def test_import_refuses_a_journal_that_already_holds_the_streams(
        files: dict[str, dict[str, Any]], w1_bundle: Path, scratch_urls: JournalUrls) -> None:
    target = scratch_urls("twice")
    import_into(w1_bundle, target)

    line = fails(run_fund("journal", "import", str(w1_bundle), target), 2)

    assert line.endswith(" already holds stream rebalancer: import into a new journal")
    with open_journal(target) as journal:
        assert journal.count("rebalancer") == files["w1"]["entries"]
