"""The ``fund`` command line.

Exit codes: 0 success; 1 the run or verification failed (a divergence, a strategy that
broke the rules) or agentfund itself failed (an "internal error": a bug); 2 bad input
(config, data, journal URL, arguments). Errors are one line on stderr, never a traceback
(``AGENTFUND_DEBUG=1`` shows the traceback of an internal error).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fund import __version__
from fund.errors import RunFailed, UsageError


def _until(text: str | None) -> datetime | None:
    """Parse a filter's upper bound: a date means up to the end of that day, exclusive."""
    moment = _moment(text, end=True)
    return moment - timedelta(microseconds=1) if moment and len(text or "") == 10 else moment


def _moment(text: str | None, *, end: bool = False) -> datetime | None:
    """Parse a date or an ISO time (UTC if naive); a date as an end means the whole day."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{text!r} is not a date (YYYY-MM-DD) or time (ISO 8601)") from None
    if end and len(text) == 10:
        if moment.date() == datetime.max.date():
            raise UsageError(f"{text!r} is the last day a date can have: give a time on it")
        moment += timedelta(days=1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fund", description="Autonomous, verifiable funds.")
    parser.add_argument("--version", action="version", version=f"agentfund {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bt = sub.add_parser("backtest", help="run a fund's actors over history")
    bt.add_argument("config", type=Path, help="fund config (TOML)")
    bt.add_argument("--journal", help="journal URL or file (default: OUT/journal.db)")
    bt.add_argument("--out", type=Path, help="output directory (default: runs/NAME-TIME)")
    bt.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key, e.g. --set fund.fee_rate=0.002")
    bt.add_argument("--start", help="first day or time (UTC) of the period")
    bt.add_argument("--end", help="last day or time (UTC) of the period, inclusive")
    bt.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    bt.add_argument("--no-report", action="store_true", help="skip the HTML report")
    bt.add_argument("--no-cache", action="store_true",
                    help="neither reuse nor keep finished runs (by default a run of the "
                         "same config, period, data and code is copied from "
                         "$AGENTFUND_CACHE/runs)")
    bt.set_defaults(handler=_backtest)

    sw = sub.add_parser("sweep", help="backtest a grid of parameter sets on Dask")
    sw.add_argument("config", type=Path, help="fund config (TOML)")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a config key and its values (same syntax as --set; repeatable)")
    sw.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key for every combination")
    sw.add_argument("--random", type=int, metavar="N", help="run N combinations sampled "
                    "without replacement from the grid")
    sw.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")
    where = sw.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local Dask worker processes (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="a running Dask scheduler, e.g. tcp://host:8786")
    sw.add_argument("--start", help="first day or time (UTC) of the period")
    sw.add_argument("--end", help="last day or time (UTC) of the period, inclusive")
    sw.add_argument("--walk-forward", metavar="TRAIN:TEST",
                    help="choose on TRAIN, evaluate on the next TEST, rolling (e.g. 60d:30d)")
    sw.add_argument("--sort", default="sharpe", metavar="METRIC",
                    help="rank by sharpe (default), sortino, total_return, annualized_return, "
                         "final_nav (descending) or max_drawdown, turnover, fees, fills "
                         "(ascending)")
    sw.add_argument("--out", type=Path, help="output directory (default: runs/NAME-sweep-TIME)")
    sw.add_argument("--keep-journals", action="store_true",
                    help="keep each run's journal (OUT/journals/KEY.db)")
    sw.add_argument("--cache", type=Path, help="results cache file "
                    "(default: $AGENTFUND_CACHE/sweeps.sqlite)")
    sw.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    sw.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    sw.add_argument("--json", action="store_true", help="print the results as one JSON object")
    sw.set_defaults(handler=_sweep)

    run = sub.add_parser("run", help="run a fund's actors on their cron schedules: paper "
                                     "trading on live prices, or live with --live")
    run.add_argument("config", type=Path, nargs="+",
                     help="fund config (TOML); several, or a directory of them, run side by "
                          "side in one process, each on its own journal")
    run.add_argument("--journal", help="journal URL or file (default: [daemon] journal, or "
                                       "runs/NAME/journal.db); one config only")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key")
    run.add_argument("--once", action="store_true", help="wake every actor once and exit")
    run.add_argument("--live", action="store_true",
                     help="trade for real on the exchange of [exchange], with the API key and "
                          "secret read from the environment variables it names")
    run.set_defaults(handler=_run)

    st = sub.add_parser("status", help="each actor's state: wakes, NAV, orders, its daemon")
    st.add_argument("journal", nargs="+",
                    help="journal URL or SQLite file, or a fund config (TOML: its journal) or a "
                         "directory of configs; several are shown one after another")
    st.add_argument("--json", action="store_true", help="print the state as JSON")
    st.set_defaults(handler=_status)
    doc = sub.add_parser("doctor", help="check what a daemon needs: config, journal, exchange, "
                                        "keys, clock, disk, alert targets")
    doc.add_argument("config", type=Path, help="fund config (TOML)")
    doc.add_argument("--journal", help="journal URL or file (default: as fund run)")
    doc.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config key")
    doc.add_argument("--live", action="store_true",
                     help="also check the exchange keys: set, and accepted (a balance query)")
    doc.add_argument("--send-test", action="store_true",
                     help="send a test message to every [notify] target")
    doc.set_defaults(handler=_doctor)
    for name, text in (("pause", "stop waking the actor (wakes are recorded as missed)"),
                       ("resume", "undo pause and kill"),
                       ("kill", "keep waking, but reject every order (kill switch)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("actor")
        cmd.add_argument("--journal", required=True, help="the daemon's journal URL or file")
        cmd.add_argument("--reason", default="", help="recorded with the command")
        cmd.set_defaults(handler=_command, command=name, amount=None)
    for name, text in (("deposit", "pay cash into an actor"),
                       ("withdraw", "take cash out of an actor (refused beyond its cash)")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("actor")
        cmd.add_argument("amount", help="in the fund's quote currency")
        cmd.add_argument("--journal", required=True, help="the daemon's journal URL or file")
        cmd.add_argument("--reason", default="", help="recorded with the command")
        cmd.set_defaults(handler=_command, command=name)

    sub_ = sub.add_parser("subscribe", help="an investor buys units (dealt at the next "
                                            "valuation point)")
    sub_.add_argument("actor")
    sub_.add_argument("investor")
    sub_.add_argument("amount", help="cash, in the fund's quote currency")
    sub_.add_argument("--journal", required=True, help="the daemon's journal URL or file")
    sub_.add_argument("--reason", default="", help="recorded with the request")
    sub_.set_defaults(handler=_command, command="subscribe", units=None)
    red = sub.add_parser("redeem", help="an investor sells units (dealt at the next "
                                        "valuation point)")
    red.add_argument("actor")
    red.add_argument("investor")
    size = red.add_mutually_exclusive_group(required=True)
    size.add_argument("--units", help="the number of units to sell")
    size.add_argument("--amount", help="the cash to take out (converted to units then)")
    red.add_argument("--journal", required=True, help="the daemon's journal URL or file")
    red.add_argument("--reason", default="", help="recorded with the request")
    red.set_defaults(handler=_command, command="redeem")

    ve = sub.add_parser("verify", help="check a journal's chain and replay its decisions")
    ve.add_argument("journal", help="journal URL, SQLite file, bundle or JSONL export")
    ve.add_argument("--actor", action="append", default=[], help="only this actor (repeatable)")
    ve.add_argument("--head", help="expected head hash (detects entries removed at the end)")
    ve.add_argument("--key", type=Path, metavar="PUB",
                    help="the manager's public key: check every checkpoint's signature")
    ve.add_argument("--heads", metavar="URL|FILE",
                    help="the manager's published heads feed (heads.json) to hold it to")
    ve.add_argument("--proof", type=Path, default=Path("equivocation-proof.json"),
                    help="where to write the proof if the key signed two histories "
                         "(default: equivocation-proof.json)")
    ve.add_argument("--allow-code-change", action="store_true",
                    help="replay even if the installed strategy or scorer code differs "
                         "from the code that ran")
    ve.add_argument("--rescore", action="store_true",
                    help="also run the scorers (a model, its server) again on every recorded "
                         "text and report how often they agree")
    ve.add_argument("--jobs", type=_jobs, metavar="N",
                    help="processes replaying a long stream's segments at once (default: "
                         "the CPUs, up to 4; 1: one process)")
    ve.set_defaults(handler=_verify)

    jo = sub.add_parser("journal", help="inspect, export or import a journal").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    show = jo.add_parser("show", help="print entries as a table")
    export = jo.add_parser("export", help="write entries as JSON lines, or the whole fund as "
                                          "a bundle (--bundle)")
    for p in (show, export):
        p.add_argument("journal", help="journal URL or SQLite file")
        p.add_argument("--actor", action="append", default=[], help="only this actor")
        p.add_argument("--kind", action="append", default=[], help="only this kind")
        p.add_argument("--since", help="only entries at or after this time (UTC)")
        p.add_argument("--until", help="only entries at or before this time (UTC)")
    show.add_argument("--limit", type=int, default=50, help="at most N entries (default 50)")
    show.add_argument("--last", action="store_true", help="the last N entries, not the first")
    show.set_defaults(handler=_journal_show)
    oracle = sub.add_parser("oracle", help="run a live news oracle once and show its data")
    oracle.add_argument("kind", choices=["page", "feed"], help="web page(s) or RSS/Atom feed(s)")
    oracle.add_argument("urls", nargs="+", metavar="URL")
    oracle.add_argument("--keyword", action="append", default=[], metavar="NAME[=ALIASES]",
                        help="count and score mentions, e.g. --keyword 'Trump=Donald Trump'")
    oracle.add_argument("--json", action="store_true", help="print the data as JSON")
    oracle.add_argument("--scorer", default="vader", metavar="KIND_OR_TOML",
                        help="score with this scorer: a kind (vader, wordllama), "
                             "package.module:Class, or a TOML table such as "
                             "'{ kind = \"wordllama\", head = \"head.json\" }'")
    oracle.add_argument("--deadline", type=float, default=30.0, metavar="SECONDS",
                        help="give up on a URL after this long in all, however slowly it "
                             "answers (default 30)")
    oracle.set_defaults(handler=_oracle)

    data = sub.add_parser("data", help="download OHLCV history; list what a folder holds"
                          ).add_subparsers(dest="data_command", required=True, metavar="ACTION")
    dl = data.add_parser("download", help="fetch closed candles through ccxt into feather files "
                         "(resumable)")
    dl.add_argument("--exchange", required=True, help="ccxt exchange id, e.g. binance")
    dl.add_argument("--pairs", nargs="+", required=True, metavar="PAIR", help="e.g. BTC/USDT")
    dl.add_argument("--timeframe", default="5m", help="candle length (default 5m)")
    dl.add_argument("--since", required=True, help="first candle's open day or time (UTC)")
    dl.add_argument("--until", help="only candles opening before this day or time (UTC; "
                    "default: up to the last closed candle)")
    dl.add_argument("--out", type=Path, required=True, help="folder of the files")
    dl.add_argument("--retries", type=int, default=5,
                    help="retries of a failing request (default 5)")
    dl.add_argument("--rate-limit", type=float, metavar="MS",
                    help="ccxt's rateLimit (ms per unit of request weight; default: ccxt's "
                         "for the exchange)")
    dl.add_argument("--url", action="append", default=[], metavar="HOST=URL",
                    help="point an API host elsewhere, e.g. api=https://testnet.binance.vision")
    dl.set_defaults(handler=_data_download)
    dls = data.add_parser("list", help="coverage of each pair and timeframe in a folder")
    dls.add_argument("directory", type=Path)
    dls.add_argument("--json", action="store_true", help="print the rows as JSON")
    dls.set_defaults(handler=_data_list)

    stmt = sub.add_parser("statement", help="an investor's holdings, flows, fees and returns")
    stmt.add_argument("journal", help="journal URL or SQLite file")
    stmt.add_argument("--investor", required=True, help="the investor's id")
    stmt.add_argument("--actor", help="the actor (needed when the journal has several)")
    stmt.add_argument("--json", action="store_true", help="print the statement as JSON")
    stmt.set_defaults(handler=_statement)

    keys = sub.add_parser("keys", help="the manager's signing key").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    generate = keys.add_parser("generate", help="make an Ed25519 key pair for checkpoints")
    generate.add_argument("--dir", type=Path, default=Path("keys"),
                          help="where to write NAME.key and NAME.pub (default: keys)")
    generate.add_argument("--name", default="manager", help="file name (default: manager)")
    generate.set_defaults(handler=_keys_generate)
    pub = sub.add_parser("publish", help="write a journal's signed checkpoints to a heads feed")
    pub.add_argument("journal", help="journal URL or SQLite file")
    pub.add_argument("--to", type=Path, required=True, metavar="DIR",
                     help="the feed's folder (heads.json, heads.atom)")
    pub.set_defaults(handler=_publish)
    proof = sub.add_parser("verify-proof", help="check a proof that a key signed two "
                                                "histories")
    proof.add_argument("proof", type=Path, help="the proof file fund verify wrote")
    proof.set_defaults(handler=_verify_proof)
    aud = sub.add_parser("audit", help="an investor's audit: verify against the signed heads "
                                       "and write an HTML report")
    aud.add_argument("journal", help="journal: a bundle, a JSONL export, a URL or SQLite file")
    aud.add_argument("--key", type=Path, required=True, metavar="KEY.pub",
                     help="the manager's public key")
    aud.add_argument("--heads", required=True, metavar="URL|FILE",
                     help="the manager's published heads feed (heads.json)")
    aud.add_argument("--investor", help="include this investor's statement and returns")
    aud.add_argument("--out", type=Path, default=Path("audit.html"),
                     help="the HTML audit to write (default: audit.html)")
    aud.add_argument("--allow-code-change", action="store_true",
                     help="replay even if the installed strategy or scorer code differs "
                          "from the code that ran")
    aud.set_defaults(handler=_audit)

    models = sub.add_parser("models", help="every scorer/model a fund used: texts scored, "
                                           "first and last use")
    prov = sub.add_parser("provenance", help="which model scored a text, when, with what "
                                             "output, and the decisions that used it")
    for p in (models, prov):
        p.add_argument("journal", help="journal: URL, SQLite file, bundle or JSONL export")
        p.add_argument("--actor", action="append", default=[], help="only this actor")
        p.add_argument("--json", action="store_true", help="print one JSON object")
    models.set_defaults(handler=_models)
    asked = prov.add_mutually_exclusive_group(required=True)
    asked.add_argument("--text", help="the text, exactly as scored (a headline, a sentence)")
    asked.add_argument("--sha256", metavar="H", help="the sha256 of the text (UTF-8)")
    prov.set_defaults(handler=_provenance)

    ui = sub.add_parser("ui", help="serve the read-only monitoring UI (Streamlit)")
    ui.add_argument("journal", nargs="?", help="journal URL or SQLite file to open")
    ui.add_argument("--runs", type=Path, default=Path("runs"),
                    help="directory of backtest runs (default: runs)")
    ui.add_argument("--address", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    ui.add_argument("--key", type=Path, metavar="PUB",
                    help="the manager's public key: the Journal page checks checkpoints")
    ui.set_defaults(handler=_ui)

    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--out", type=Path, help="file to write (default: stdout)")
    export.add_argument("--bundle", type=Path, metavar="FILE",
                        help="write every stream, blob and a manifest to this one verifiable "
                             "file instead (see docs/bundle.md)")
    export.add_argument("--model-ledger", type=Path, metavar="FILE",
                        help="write the public model ledger instead: one JSON line per text "
                             "scored (see docs/models.md)")
    export.set_defaults(handler=_journal_export)
    imp = jo.add_parser("import", help="load a bundle or a JSONL export into a new journal")
    imp.add_argument("file", help="the bundle or JSONL export")
    imp.add_argument("target", metavar="URL",
                     help="journal URL or SQLite file to load it into (must not hold its "
                          "streams yet)")
    imp.set_defaults(handler=_journal_import)
    return parser


def _backtest(args: argparse.Namespace) -> int:
    from fund.commands.backtest import backtest

    return backtest(config=args.config, journal=args.journal, out=args.out,
                    overrides=args.set, start=_moment(args.start), end=_moment(args.end, end=True),
                    as_json=args.json, report=not args.no_report, reuse=not args.no_cache)


def _sweep(args: argparse.Namespace) -> int:
    from fund.commands.sweep import SweepOptions, sweep

    return sweep(SweepOptions(
        config=args.config, grids=args.grid, overrides=args.set, random=args.random,
        seed=args.seed, workers=args.workers, scheduler=args.scheduler,
        start=_moment(args.start), end=_moment(args.end, end=True), out=args.out,
        sort=args.sort, keep_journals=args.keep_journals, cache=args.cache,
        no_cache=args.no_cache, walk_forward=args.walk_forward, as_json=args.json,
        top=args.top))


def _run(args: argparse.Namespace) -> int:
    from fund.commands.run import run

    return run(config=args.config, journal=args.journal, overrides=args.set, once=args.once,
               live=args.live)


def _doctor(args: argparse.Namespace) -> int:
    from fund.commands.doctor import doctor

    return doctor(args.config, journal=args.journal, overrides=args.set, live=args.live,
                  send_test=args.send_test)


def _status(args: argparse.Namespace) -> int:
    from fund.commands.operate import status

    return status(args.journal, as_json=args.json)


def _command(args: argparse.Namespace) -> int:
    from fund.commands.operate import send

    return send(args.journal, args.actor, args.command, amount=args.amount, reason=args.reason,
                investor=getattr(args, "investor", None), units=getattr(args, "units", None))


def _verify(args: argparse.Namespace) -> int:
    from fund.commands.inspect import verify

    return verify(args.journal, actors=args.actor, head=args.head,
                  allow_code_change=args.allow_code_change, key=args.key, heads=args.heads,
                  proof=args.proof, rescore=args.rescore, jobs=args.jobs)


def _jobs(text: str) -> int:
    """A ``--jobs`` count: a whole number of at least 1."""
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return jobs


def _journal_show(args: argparse.Namespace) -> int:
    from fund.commands.inspect import show

    return show(args.journal, actors=args.actor, kinds=args.kind, since=_moment(args.since),
                until=_until(args.until), limit=args.limit, last=args.last)


def _journal_export(args: argparse.Namespace) -> int:
    from fund.commands.inspect import export

    if args.model_ledger is not None:
        from fund.commands.models import export_ledger

        given = [flag for flag, value in (("--kind", args.kind), ("--since", args.since),
                                          ("--until", args.until), ("--out", args.out),
                                          ("--bundle", args.bundle)) if value]
        if given:
            raise UsageError(f"--model-ledger writes every text scored to FILE: drop "
                             f"{', '.join(given)}")
        return export_ledger(args.journal, args.model_ledger, actors=args.actor)
    if args.bundle is not None:
        from fund.commands.transfer import export_bundle

        given = [flag for flag, value in (("--actor", args.actor), ("--kind", args.kind),
                                          ("--since", args.since), ("--until", args.until),
                                          ("--out", args.out)) if value]
        if given:
            raise UsageError(f"--bundle writes the whole fund to FILE: drop {', '.join(given)}")
        return export_bundle(args.journal, args.bundle)
    return export(args.journal, actors=args.actor, kinds=args.kind, since=_moment(args.since),
                  until=_until(args.until), out=args.out)


def _models(args: argparse.Namespace) -> int:
    from fund.commands.models import list_models

    return list_models(args.journal, actors=args.actor, as_json=args.json)


def _provenance(args: argparse.Namespace) -> int:
    from fund.commands.models import show_provenance

    return show_provenance(args.journal, text=args.text, sha256=args.sha256,
                           actors=args.actor, as_json=args.json)


def _journal_import(args: argparse.Namespace) -> int:
    from fund.commands.transfer import import_journal

    return import_journal(args.file, args.target)


def _oracle(args: argparse.Namespace) -> int:
    from fund.commands.oracle import run_oracle

    return run_oracle(args.kind, args.urls, args.keyword, args.json, deadline=args.deadline,
                      scorer=args.scorer)


def _data_download(args: argparse.Namespace) -> int:
    from fund.commands.data import DownloadOptions, download

    urls = dict(item.split("=", 1) for item in args.url if "=" in item)
    if len(urls) != len(args.url):
        raise UsageError("--url takes HOST=URL, e.g. api=https://testnet.binance.vision")
    since = _moment(args.since)
    assert since is not None  # required
    return download(DownloadOptions(
        exchange=args.exchange, pairs=list(args.pairs), timeframe=args.timeframe, since=since,
        until=_moment(args.until), out=args.out, urls=urls, retries=args.retries,
        rate_limit_ms=args.rate_limit))


def _data_list(args: argparse.Namespace) -> int:
    from fund.commands.data import list_data

    return list_data(args.directory, as_json=args.json)


def _statement(args: argparse.Namespace) -> int:
    from fund.commands.statement import show_statement

    return show_statement(args.journal, args.investor, actor=args.actor, as_json=args.json)


def _keys_generate(args: argparse.Namespace) -> int:
    from fund.commands.attest import keys_generate

    return keys_generate(args.dir, args.name)


def _publish(args: argparse.Namespace) -> int:
    from fund.commands.attest import publish_heads

    return publish_heads(args.journal, args.to)


def _verify_proof(args: argparse.Namespace) -> int:
    from fund.commands.attest import verify_proof

    return verify_proof(args.proof)


def _audit(args: argparse.Namespace) -> int:
    from fund.commands.audit import run_audit

    return run_audit(args.journal, key_file=args.key, heads=args.heads, investor=args.investor,
                     out=args.out, allow_code_change=args.allow_code_change)


def _ui(args: argparse.Namespace) -> int:
    from fund.commands.ui import ui

    return ui(args.journal, args.runs, address=args.address, port=args.port, key=args.key)


def _known_errors() -> tuple[type[Exception], ...]:
    from agentfund.backtests.data import DataError
    from agentfund.backtests.engine import BacktestError
    from agentfund.oracles.base import OracleError
    from fund.config import ConfigError
    from fund.daemon import DaemonError
    from fund.journal import JournalError

    return (UsageError, ConfigError, DataError, BacktestError, JournalError, DaemonError,
            OracleError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fund`` command; return its exit code."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RunFailed as exc:
        print(f"fund: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fund: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if isinstance(exc, _known_errors()):
            print(f"fund: error: {one_line(exc)}", file=sys.stderr)
            return 2
        from fund.actor import HandlerPurityError

        if isinstance(exc, HandlerPurityError):
            print(f"fund: strategy broke purity: {one_line(exc)}", file=sys.stderr)
            return 1
        if os.environ.get("AGENTFUND_DEBUG"):
            raise
        print(f"fund: internal error: {type(exc).__name__}: {one_line(exc, 500)} (a bug: "
              "please report it; AGENTFUND_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """An error's message as one line: what is not printable (a line break, a control
    character a config value brought in) is written as its escape, ``\\n``, ``\\x1b``;
    with a ``limit``, shortened to that many characters."""
    text = "".join(char if char.isprintable() else
                   char.encode("unicode_escape").decode("ascii") for char in str(exc))
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
