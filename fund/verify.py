"""Verify a journal: its hash chain, its recorded inputs, and a strict replay of each stream.

For each stream: every entry must carry the next sequence number, link to its
predecessor's hash and hash to its own content. The actor is rebuilt from the Start entry
and the stream replayed strictly (fund/replay.py): every Halt, Decision and OrderIntent,
and where the venue's fills follow from the journal (paper) every ack, fill and rejection,
must equal what the core calls for, byte for byte. The recorded inputs are checked here:
nothing dated after it arrived, blobs matching their hashes, derived observations (scores)
equal to deriving them again, investors' requests well-formed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fund.actor import ActorCore, payload_of
from fund.canonical import dumps, format_ts, parse_ts
from fund.journal import GENESIS_HASH, BlobMissingError, Entry, Journal
from fund.journal.base import blob_digest, entry_hash
from fund.messages import (
    CHECKPOINT,
    EXCHANGE_EVENTS,
    OBSERVATION,
    REDEMPTION,
    START,
    SUBSCRIPTION,
    Checkpoint,
    is_side_stream,
)
from fund.money import standard
from fund.replay import Divergence, Replayer

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from fund.verify_split import Split

__all__ = ["Divergence", "StreamReport", "verify_stream"]


@dataclass(frozen=True, slots=True)
class StreamReport:
    """The outcome of verifying one stream."""

    process_id: str
    entries: int
    head: str
    error: str | None = None
    seq: int | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the stream verified."""
        return self.error is None

    def line(self) -> str:
        """The outcome as ``fund verify`` and ``fund audit`` print it."""
        if self.ok:
            return f"{self.process_id}: verified {self.entries} entries, head {self.head}"
        return f"{self.process_id}: FAILED at {self.error}"


class _NoBlobs:
    """A blob sink for re-deriving: derived oracles store nothing."""

    def put_blob(self, data: bytes) -> str:
        raise RuntimeError("a derived oracle tried to store a blob during verification")


_NO_BLOBS = _NoBlobs()
_UNSEEN = object()  # an oracle not met yet in the stream


class InputChecks:
    """The checks of recorded inputs, run by the replayer before each entry is folded."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.derived: dict[str, Any] = {}  # oracle name -> its re-deriving oracle (or None)

    def __call__(self, entry: Entry, payload: Mapping[str, Any], core: ActorCore) -> None:
        if entry.kind == OBSERVATION:
            self._observation(entry, payload)
            oracle = self.derived.get(payload["oracle"], _UNSEEN)
            if oracle is _UNSEEN:  # the oracle's first observation in the stream
                oracle = self._deriving(payload["oracle"], core)
            if oracle is not None:  # (most are not derived: nothing to derive again)
                self._rederive(entry, payload, oracle, core)
        elif entry.kind in (SUBSCRIPTION, REDEMPTION):
            self._request(entry, payload, core)
        elif entry.kind in EXCHANGE_EVENTS:  # live: the exchange's raw answers it was read from
            self._blobs(entry, payload.get("raw") or ())

    def _observation(self, entry: Entry, payload: Mapping[str, Any]) -> None:
        data = payload.get("data") or {}
        # nothing may be dated after the moment it arrived: in a backtest the wake; live,
        # when the answer came (``received``); the exchange's own stamps are on its clock,
        # so they are judged with its measured offset
        as_of = max(entry.ts, payload.get("as_of", ""), payload.get("received", ""))
        clock = data.get("clock")  # (a backtest's observations have none)
        venue_as_of = as_of if clock is None else _on_venue_clock(as_of, clock)
        for symbol, quote in (data.get("prices") or {}).items():
            if quote.get("time", "") > venue_as_of:
                raise Divergence(entry.seq, f"look-ahead: {symbol} price from {quote['time']} "
                                            f"observed at {as_of}")
        items = data.get("items")
        for item in items if isinstance(items, list) else ():
            if (item.get("published") or "") > as_of:
                raise Divergence(entry.seq, f"look-ahead: item {item.get('id')} published "
                                            f"{item['published']}, observed at {as_of}")
        if "books" in data or "candles" in data:  # (most observations are prices only)
            for what, moment in _market_times(data):
                if moment > venue_as_of:
                    raise Divergence(entry.seq, f"look-ahead: {what} {moment} observed at "
                                                f"{as_of}")
            problem = _candle_problem(data)  # after look-ahead: a future candle says it first
            if problem is not None:
                raise Divergence(entry.seq, problem)
        if "blobs" in data:
            self._blobs(entry, data["blobs"])

    def _blobs(self, entry: Entry, digests: Iterable[str]) -> None:
        """Every blob an entry lists must be stored, and hash to its digest."""
        for digest in digests:
            try:
                body = self.journal.get_blob(digest)
            except BlobMissingError:
                raise Divergence(entry.seq, f"blob {digest} is missing") from None
            if blob_digest(body) != digest:
                raise Divergence(entry.seq, f"blob {digest} was altered")

    def _deriving(self, name: str, core: ActorCore) -> Any:
        """The oracle that derives the named oracle's observations again, kept for the
        stream; None where it is not derived, or a model whose outputs vary (its record is
        the input)."""
        from agentfund.oracles.kinds import rederiving_oracle

        oracle = self.derived[name] = rederiving_oracle(core.spec.oracle(name))
        return oracle

    def _rederive(self, entry: Entry, payload: Mapping[str, Any], oracle: Any,
                  core: ActorCore) -> None:
        """Derive a derived observation (scores) again, with ``oracle``, from what it was
        derived from."""
        name = payload["oracle"]
        from agentfund.oracles.base import Recorded

        recorded = Recorded(this_wake=core.observations, last=core.last_observations)
        if not oracle.scorer.deterministic:
            self._replay_model(entry, payload, oracle, recorded)
            return
        expected: dict[str, Any] = {"oracle": name, "as_of": payload["as_of"]}
        try:
            expected["data"] = oracle.observe(parse_ts(payload["as_of"]), _NO_BLOBS, recorded)
        except Exception as exc:  # noqa: BLE001 - the runtime records failures the same way
            expected["error"] = f"{type(exc).__name__}: {exc}"
        if "received" in payload:  # when the result was ready: an input, not re-derived
            expected["received"] = payload["received"]
        if dumps(expected) == entry.payload:
            return
        was = (payload.get("data") or {}).get("scorer")
        now = oracle.scorer.identity.to_payload()
        if was is not None and was != now:
            raise Divergence(entry.seq, f"scored by {dumps(was)}, but the installed scorer is "
                                        f"{dumps(now)}: the replay would differ")
        raise Divergence(entry.seq, "sentiment differs from scoring the recorded news again")

    def _replay_model(self, entry: Entry, payload: Mapping[str, Any], oracle: Any,
                      recorded: Any) -> None:
        """A model's scores are not reproducible here: derive the observation again from
        the recorded completions (each parsed again, each prompt what the configured one
        gives), under the recorded identity once it agrees with the configured scorer. A
        recorded failure (the server was down) is an input."""
        from agentfund.oracles.llm import ReplayError
        from agentfund.oracles.sentiment import SentimentOracle

        data = payload.get("data")
        if data is None:
            return
        try:
            scorer = oracle.scorer.replaying(data, self.journal.get_blob)
            again = SentimentOracle(oracle.name, oracle.source, oracle.keywords, scorer)
            expected = {**payload, "data": again.observe(parse_ts(payload["as_of"]), _NO_BLOBS,
                                                         recorded)}
        except ReplayError as exc:
            raise Divergence(entry.seq, str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a record that cannot be replayed
            raise Divergence(entry.seq, f"the recorded completions do not replay: "
                                        f"{type(exc).__name__}: {exc}") from None
        if dumps(expected) != entry.payload:
            raise Divergence(entry.seq, "sentiment differs from the recorded completions "
                                        "read again")

    @staticmethod
    def _request(entry: Entry, payload: Mapping[str, Any], core: ActorCore) -> None:
        if core.register is None:
            raise Divergence(entry.seq, f"a {entry.kind} in a fund that keeps no investor "
                                        "accounts")
        for key in ("amount", "units"):
            if key in payload and not Decimal(payload[key]) > 0:
                raise Divergence(entry.seq, f"{entry.kind} of a {key} that is not positive")
        if entry.kind == SUBSCRIPTION and "amount" not in payload:
            raise Divergence(entry.seq, "a Subscription without an amount")


def _on_venue_clock(as_of: str, clock: Any) -> str:
    """The latest time the exchange's clock may have read at ``as_of`` on ours: later by
    its measured offset and the measurement's uncertainty (as_of itself without one)."""
    if not isinstance(clock, Mapping) or not as_of:
        return as_of
    try:
        ahead = int(clock.get("offset_ms", 0)) + abs(int(clock.get("uncertainty_ms", 0)))
    except (TypeError, ValueError):
        return as_of
    return format_ts(parse_ts(as_of) + timedelta(milliseconds=ahead)) if ahead > 0 else as_of


def _market_times(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(what, time) of each dated order book and each candle's close in observed data."""
    for symbol, book in (data.get("books") or {}).items():
        if book.get("time"):
            yield f"{symbol} order book from", book["time"]
    for symbol, candles in (data.get("candles") or {}).items():
        for candle in candles:
            yield f"{symbol} candle closing", candle.get("close_time") or candle["time"]


def _candle_problem(data: Mapping[str, Any]) -> str | None:
    """What is wrong with an observation's candles: a low above a high, an open or close
    outside them, or a price that is not the last candle's close at its close time."""
    for symbol, candles in (data.get("candles") or {}).items():
        try:
            for candle in candles:
                low, high = Decimal(candle["low"]), Decimal(candle["high"])
                if not low <= min(Decimal(candle["open"]), Decimal(candle["close"])) or \
                        not max(Decimal(candle["open"]), Decimal(candle["close"])) <= high:
                    return f"{symbol} candle at {candle['time']}: open/close outside low–high"
            quote = (data.get("prices") or {}).get(symbol)
            if candles and quote is not None and (
                    Decimal(quote["price"]) != Decimal(candles[-1]["close"])
                    or quote.get("time") != candles[-1]["close_time"]):
                return f"{symbol} price is not its last candle's close"
        except (KeyError, TypeError, ArithmeticError, ValueError) as exc:
            return f"{symbol} candles are malformed: {type(exc).__name__}: {exc}"
    return None


def _same_code(seq: int, recorded: Mapping[str, Any], core: ActorCore) -> None:
    """The strategy's and scorers' code installed here must be the code that ran."""
    installed = core.spec.code()
    pairs = [("strategy", recorded.get("strategy_source"), installed["strategy_source"])]
    scorers = dict(recorded.get("scorers") or {})
    pairs += [(f"scorer {name!r}", scorers.get(name), code)
              for name, code in sorted(installed.get("scorers", {}).items())]
    for what, was, now in pairs:
        if was is not None and was != now:
            raise Divergence(seq, f"{what} code differs from the code that ran (recorded "
                                  f"{str(was)[:16]}…, installed {now[:16]}…): replay with "
                                  "the code that ran, or pass --allow-code-change")


def _checkpoint(entry: Entry, payload: Mapping[str, Any], before: Entry,
                previous: Checkpoint | None, key: Ed25519PublicKey | None) -> Checkpoint:
    """A checkpoint signs the entry before it and names the one before it in its stream."""
    from fund.attest import digest, valid

    checkpoint = Checkpoint.from_payload(payload)
    if (checkpoint.actor, checkpoint.seq, checkpoint.head) != \
            (entry.process_id, before.seq, before.hash):
        raise Divergence(entry.seq, f"a checkpoint of {checkpoint.actor} at entry "
                                    f"{checkpoint.seq} that does not follow that entry")
    if checkpoint.previous != (digest(previous) if previous is not None else None):
        raise Divergence(entry.seq, "a checkpoint that does not name the one before it")
    if key is not None and not valid(checkpoint, key):
        raise Divergence(entry.seq, "a checkpoint not signed by the manager's key")
    return checkpoint


def _chain(entries: Iterable[Entry], expected_seq: int = 1,
           prev_hash: str = GENESIS_HASH) -> Iterator[Entry]:
    """Yield entries after checking sequence, link and hash (from ``expected_seq``, whose
    predecessor's hash is ``prev_hash``)."""
    for entry in entries:
        process_id, seq, kind, ts, payload, linked, digest = entry
        if seq != expected_seq:
            raise Divergence(expected_seq, f"missing or out of order (found entry {seq})")
        if linked != prev_hash:
            raise Divergence(seq, "does not link to the previous entry's hash")
        if entry_hash(process_id, seq, kind, ts, payload, linked) != digest:
            raise Divergence(seq, "content does not match its hash (altered)")
        yield entry
        expected_seq, prev_hash = seq + 1, digest


class StreamCheck:
    """One stream's verification fed entry by entry, in order, after the chain check: the
    strict replay, the recorded inputs' checks, the code identity and the checkpoints."""

    def __init__(self, journal: Journal, process_id: str, *, allow_code_change: bool = False,
                 key: Ed25519PublicKey | None = None) -> None:
        self.process_id = process_id
        self.replay = Replayer(strict=True, check_input=InputChecks(journal))
        self.allow_code_change = allow_code_change
        self.key = key
        self.previous: Checkpoint | None = None  # the last checkpoint so far
        self.last = Entry(process_id=process_id, seq=0, kind="", ts="", payload="",
                          prev_hash="", hash=GENESIS_HASH)
        self.commands_only = is_side_stream(process_id)  # an inbox or the alerts: chain only
        self.start = ""  # the Start entry's hash

    def feed(self, entry: Entry) -> None:
        """Check the next entry; raise Divergence (or any replay failure) where it fails."""
        if not self.commands_only:
            try:  # a Decision is checked as text: equal to the replay's, so valid JSON too
                payload = payload_of(entry.kind, entry.payload)
            except ValueError:
                raise Divergence(entry.seq, "payload is not valid JSON") from None
            replay = self.replay
            replay.feed(entry, payload)
            if entry.kind == START:
                self.start = entry.hash
                if not self.allow_code_change and replay.core is not None:
                    _same_code(entry.seq, payload.get("code") or {}, replay.core)
            elif entry.kind == CHECKPOINT:
                self.previous = _checkpoint(entry, payload, self.last, self.previous, self.key)
        self.last = entry

    def failed(self, exc: Exception) -> StreamReport:
        """The report of a stream that failed with ``exc`` after the last entry fed."""
        last = self.last
        if isinstance(exc, Divergence):
            return StreamReport(self.process_id, last.seq, last.hash, str(exc), exc.seq)
        seq = last.seq + 1  # any other replay failure is a verification failure
        return StreamReport(self.process_id, last.seq, last.hash,
                            f"entry {seq}: replay failed: {type(exc).__name__}: {exc}", seq)


@standard
def verify_stream(journal: Journal, process_id: str, head: str | None = None, *,
                  allow_code_change: bool = False,
                  key: Ed25519PublicKey | None = None, jobs: int = 1,
                  split: Split | None = None) -> StreamReport:
    """Verify one stream; stop at the first problem and report its sequence number.

    The code that ran (the Start entry's code identity) must be the code installed here,
    unless ``allow_code_change`` (then the replay says where it first differs). Checkpoint
    entries must sign the entry before them, chain to the previous one, and — given the
    manager's public ``key`` — be signed by it. With ``jobs`` above 1, a long stream in an
    SQLite file is verified in that many segments at once (fund/verify_split.py); the
    report is the same. ``split``: the helpers of those segments, already started.
    """
    check = StreamCheck(journal, process_id, allow_code_change=allow_code_change, key=key)
    if split is None and jobs > 1 and not check.commands_only:
        from fund.verify_split import Split

        split = Split.start(journal, process_id, jobs, allow_code_change=allow_code_change,
                            key=key)
    report = None
    try:
        for entry in _chain(journal.read(process_id)):
            if split is not None and entry.seq == split.at:
                report = split.hand_over(check)
                if report is not None:
                    break
                split.close()  # the segments after this one cannot be used: go on here
                split = None
            check.feed(entry)
        if report is None:
            check.replay.finish(check.last.seq)
            report = StreamReport(process_id, check.last.seq, check.last.hash)
    except Exception as exc:  # noqa: BLE001 - any replay failure is a verification failure
        return check.failed(exc)
    finally:
        if split is not None:
            split.close()
    if report.ok and head is not None and report.head != head:
        cut = Divergence(report.entries, f"head {report.head[:16]}… is not the expected "
                                         f"{head[:16]}… (entries removed or replaced at the "
                                         "end)")
        return StreamReport(process_id, report.entries, report.head, str(cut), cut.seq)
    return report
