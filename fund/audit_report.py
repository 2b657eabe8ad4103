"""The investor's audit as one self-contained HTML page (the data is fund/audit.py's).

Inline styles and plotly charts drawn by fund.figures, embedded the way the backtest report
embeds them (agentfund.backtests.report.Page: plotly.js once, inline): no external
resource, no network, so the file can be mailed, archived and opened offline.
Money is shown to the cent and NAV per share to four decimals; each such cell carries the
exact figure in its ``title`` (shown on hover). The page holds nothing secret: the key is
named by its fingerprint, a journal URL is shown without its password.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from agentfund.backtests.report import PAGE_CSS, Page
from fund import figures
from fund.audit import ActorAudit, Audit, Event, Statement, cents
from fund.canonical import parse_ts

MAX_ROWS = 400  # rows of a long table shown (the rest counted)
MAX_MARKS = 200  # vertical marks of one kind on a chart
_CSS = PAGE_CSS + (
    ".ok{color:#1b7a2a;font-weight:600}.bad{color:#b00020;font-weight:600}"
    ".banner{padding:.6em 1em;border-radius:4px;font-size:16px;margin:.5em 0 1em}"
    ".banner.ok{background:#e6f4ea}.banner.bad{background:#fdecea}"
    "code,.h{font-family:ui-monospace,monospace;font-size:12px}td.n{text-align:right}"
)


def write_audit(path: Path, audit: Audit) -> None:
    """Write the audit page."""
    path.write_text(render(audit), encoding="utf-8", newline="\n")


def render(audit: Audit) -> str:
    """The audit page's HTML."""
    title = f"Audit of {audit.fund or audit.journal}"
    page = Page()
    sections = [_verdict(audit), _timeline(audit), _code(audit), _nav(audit, page),
                _fees(audit)]
    if audit.statements:
        sections.append(_statements(audit, page))
    sections.append(_events(audit))
    return page.document(title, "".join(sections) + (
        f"<p class=\"note\">Written by <code>fund audit</code> (agentfund "
        f"{_esc(audit.version)}) from the journal, the manager's public key and the "
        "published heads alone. Money is shown to the cent, NAV per share to four "
        "decimals; hover a figure for its exact value.</p>\n"), css=_CSS)


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], total: int | None = None) -> str:
    """A table of already escaped cells (a cell may be a whole ``<td …>``)."""
    cells = "".join(f"<tr>{''.join(c if c.startswith('<td') else f'<td>{c}</td>' for c in r)}"
                    "</tr>\n" for r in rows)
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    note = ""
    if total is not None and total > MAX_ROWS:
        note = (f"<p class=\"note\">First {MAX_ROWS:,} of {total:,} rows shown; "
                f"{total - MAX_ROWS:,} left out.</p>\n")
    return f"<table><tr>{header}</tr>\n{cells}</table>\n{note}"


def _money(value: Any) -> str:
    return f"<td class=\"n\" title=\"{_esc(value)}\">{_esc(cents(value))}</td>"


def _price(value: Any) -> str:
    shown = f"{Decimal(str(value)).quantize(Decimal('0.0001')):,}"
    return f"<td class=\"n\" title=\"{_esc(value)}\">{_esc(shown)}</td>"


def _hash(value: str) -> str:
    return f"<td class=\"h\" title=\"{_esc(value)}\">{_esc(value[:16])}…</td>"


def _when(ts: str) -> str:
    return _esc(ts[:19].replace("T", " "))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _yes(flag: bool | None, yes: str = "yes", no: str = "NO") -> str:
    if flag is None:
        return "—"
    return f"<span class=\"ok\">{yes}</span>" if flag else f"<span class=\"bad\">{no}</span>"


def _verdict(audit: Audit) -> str:
    state = "ok" if audit.ok else "bad"
    word = ("VERIFIED: every stream replays to its head, and the journal matches every "
            "signed, published head" if audit.ok else "FAILED: do not rely on this journal "
            "past the problems below")
    lines = "".join(f"<li><code>{_esc(line)}</code></li>" for line in audit.lines())
    return (f"<section id=\"verdict\"><h2>Verdict</h2>\n<p class=\"banner {state}\">"
            f"{_esc(word)}</p>\n<ul>{lines}</ul>\n<table>"
            f"<tr><th>journal</th><td>{_esc(audit.journal)}</td></tr>"
            f"<tr><th>manager's key</th><td><code>{_esc(audit.key)}</code></td></tr>"
            f"<tr><th>heads feed</th><td>{_esc(audit.heads)} ({audit.published} "
            "checkpoint(s))</td></tr></table>\n"
            "<p class=\"note\">A stream verifies when every entry is on its hash chain and "
            "replaying its recorded inputs through the code that ran makes exactly the "
            "recorded decisions, orders, fills and valuations. Figures below are folded "
            "from the verified entries only.</p></section>\n")


def _timeline(audit: Audit) -> str:
    rows = [[_when(s.checkpoint.at), _esc(s.checkpoint.actor), str(s.checkpoint.seq),
             _hash(s.checkpoint.head), f"<code>{_esc(s.checkpoint.key)}</code>",
             _yes(s.signed, "valid", "INVALID"), _yes(s.in_feed, "yes", "no"),
             _yes(s.in_journal, "yes", "no"), _yes(s.matches)]
            for s in audit.timeline[:MAX_ROWS]]
    body = _table(("time (UTC)", "actor", "entry", "head", "signed by", "signature",
                   "in the feed", "in the journal", "journal entry matches"), rows,
                  len(audit.timeline)) if rows else "<p class=\"note\">No checkpoints: " \
        "nothing in this journal was signed.</p>\n"
    return (f"<section id=\"signatures\"><h2>Signature timeline</h2>\n"
            f"<p>{len(audit.timeline)} checkpoint(s). Each signs the hash of one entry "
            "(the head at that moment); a head published in the feed must be in the journal "
            "at its entry, or history was rewritten after it was published.</p>\n"
            f"{body}</section>\n")


def _code(audit: Audit) -> str:
    rows = []
    for use in audit.code:
        scorers = use.recorded.get("scorers") or {}
        rows.append([_esc(use.actor), _esc(use.strategy), _when(use.started),
                     _when(use.until), _esc(use.recorded.get("agentfund", "—")),
                     _hash(str(use.recorded.get("strategy_source", "—"))),
                     "<br/>".join(f"{_esc(name)}: <code title=\"{_esc(code)}\">"
                                  f"{_esc(str(code)[:16])}…</code>"
                                  for name, code in sorted(scorers.items())) or "—",
                     _yes(use.installed == "the same", "the same", _esc(use.installed))])
    return ("<section id=\"code\"><h2>Code that ran</h2>\n"
            "<p>Each actor's Start entry records the code that decided: the agentfund "
            "version, the sha256 of the strategy's source and of each scorer's. The last "
            "column compares it with the code installed where this audit ran.</p>\n"
            + _table(("actor", "strategy", "from (UTC)", "to (UTC)", "agentfund",
                      "strategy source", "scorers", "installed here"), rows)
            + "</section>\n")


def _epoch(moments: Iterable[datetime]) -> list[int]:
    return [int(m.timestamp()) for m in moments]


def _marks(audit: Audit, actor: str) -> list[tuple[float, str, str]]:
    """(time, kind, text) of the actor's checkpoints, halts and commands."""
    marks: list[tuple[float, str, str]] = []
    signed = [s for s in audit.timeline if s.checkpoint.actor == actor]
    marks += [(parse_ts(s.checkpoint.at).timestamp(), "checkpoint",
               f"checkpoint at entry {s.checkpoint.seq}") for s in signed[:MAX_MARKS]]
    marks += [(parse_ts(e.ts).timestamp(), "halt", f"halt: {e.what}")
              for e in audit.halts if e.stream == actor][:MAX_MARKS]
    marks += [(parse_ts(e.ts).timestamp(), "command", f"{e.kind}: {e.what}")
              for e in audit.commands if e.stream.split(".")[0] == actor][:MAX_MARKS]
    return marks


def _nav(audit: Audit, page: Page) -> str:
    parts = ["<section id=\"nav\"><h2>NAV over time</h2>\n<p>Recomputed from the journal: "
             "the books folded from every fill, deposit and price observation, and NAV per "
             "share from the valuation points (each of which the replay recomputed).</p>\n"]
    for found in audit.actors:
        parts.append(f"<h3>{_esc(found.actor)}</h3>\n")
        marks = _marks(audit, found.actor)
        if found.prices:
            first, last = found.prices[0], found.prices[-1]
            parts.append(page.figure(
                figures.series_figure(_epoch(t for t, _ in found.prices),
                                      [float(p) for _, p in found.prices],
                                      name="NAV per share", marks=marks),
                "NAV per share",
                f"NAV per share at {len(found.prices):,} valuation point(s): "
                f"{first[1]:.4f} on {first[0]:%Y-%m-%d} → {last[1]:.4f} on "
                f"{last[0]:%Y-%m-%d}; checkpoints, halts and commands marked."))
        if found.nav:
            parts.append(page.figure(
                figures.series_figure([float(t) for t in found.nav_times], found.nav,
                                      name=f"NAV ({found.quote})", marks=marks),
                "NAV", f"NAV in {found.quote} at the end of each of {len(found.nav):,} "
                       "wakes (the min and max of each time bucket when long)."))
        rows = [["entries folded", f"{found.folded:,}"]]
        if found.prices:
            rows.append(["last NAV per share", _price(found.prices[-1][1])])
        if found.final_nav is not None:
            rows.append([f"NAV from the books ({_esc(found.quote)})", _money(found.final_nav)])
        if found.end_nav is not None:
            rows.append([f"NAV the End entry records ({_esc(found.quote)})",
                         _money(found.end_nav)])
            rows.append(["books and End agree", _yes(found.end_nav == found.final_nav)])
        parts.append(_table(("figure", "value"), rows))
    return "".join(parts) + "</section>\n"


def _fees(audit: Audit) -> str:
    parts = ["<section id=\"fees\"><h2>Fees</h2>\n<p>Management and performance fees of "
             "each valuation point, as the Valuation entries record them (the replay "
             "recomputed every one); their totals are checked against the fees paid and "
             "still owed, and against each investor's share.</p>\n"]
    for found in audit.actors:
        parts.append(f"<h3>{_esc(found.actor)}</h3>\n")
        parts.append(_table(("figure", f"{found.quote}"), [
            ["trading fees paid to the exchange", _money(found.trading_fees)],
            *_fee_rows(found)]))
        if found.fees:
            checks = "<br/>".join(f"<span class=\"bad\">FAILED: {_esc(problem)}</span>"
                                  for problem in found.fee_problems)
            fine = _yes(True, "fees add up: charged = paid + owed = the investors' shares")
            parts.append(f"<p>{checks or fine}</p>\n")
            rows = [[_when(f.at), _money(f.management), _money(f.performance), _money(f.paid),
                     _money(f.owed)] for f in found.fees[:MAX_ROWS]]
            parts.append(_table(("valuation point (UTC)", "management fee", "performance fee",
                                 "paid", "owed after"), rows, len(found.fees)))
    return "".join(parts) + "</section>\n"


def _fee_rows(found: ActorAudit) -> list[list[str]]:
    if not found.fees:
        return []
    totals = found.fee_totals()
    return [["management fees charged", _money(totals["management"])],
            ["performance fees charged", _money(totals["performance"])],
            ["fees paid to the manager", _money(totals["paid"])],
            ["fees still owed", _money(totals["owed"])]]


def _statements(audit: Audit, page: Page) -> str:
    parts = [f"<section id=\"investor\"><h2>Statement of {_esc(audit.investor)}</h2>\n"]
    for item in audit.statements:
        parts.append(_statement(item, page))
    return "".join(parts) + "</section>\n"


def _statement(item: Statement, page: Page) -> str:
    s = item.figures
    rows = [["as of (UTC)", _when(str(s["as_of"] or "—"))], ["units", _esc(s["units"])],
            ["NAV per share", _price(s["nav_per_share"])], ["value", _money(s["value"])],
            ["contributed", _money(s["contributed"])], ["withdrawn", _money(s["withdrawn"])],
            ["management fees", _money(s["management_fees"])],
            ["performance fees", _money(s["performance_fees"])],
            ["high-water mark", _price(s["high_water_mark"])],
            ["time-weighted return", _pct(s["time_weighted_return"])],
            ["money-weighted return (a year)", _pct(s["money_weighted_return"])],
            ["fund, time-weighted", _pct(s["fund_time_weighted_return"])]]
    chart = page.figure(
        figures.series_figure(_epoch(t for t, _ in item.values),
                              [float(v) for _, v in item.values], name="value of the holding"),
        "holding", "The holding's value at each valuation point: units then × NAV per "
                   "share.") if item.values else ""
    history = [[_when(r["at"]), _price(r["price"]), _esc(r["units"]),
                _money(r.get("contributed", "0")), _money(r.get("withdrawn", "0")),
                _money(r.get("management_fee", "0")), _money(r.get("performance_fee", "0"))]
               for r in s["history"][:MAX_ROWS]]
    return (f"<h3>in {_esc(item.actor)}</h3>\n" + _table(("figure", "value"), rows) + chart
            + "<h4>Valuation points that changed the holding</h4>\n"
            + _table(("valuation point (UTC)", "NAV per share", "units after", "contributed",
                      "withdrawn", "management fee", "performance fee"), history,
                     len(s["history"])))


def _events(audit: Audit) -> str:
    def rows(events: Sequence[Event]) -> list[list[str]]:
        return [[_when(e.ts), _esc(e.stream), str(e.seq), _esc(e.kind), _esc(e.what)]
                for e in events[:MAX_ROWS]]

    head = ("time (UTC)", "stream", "entry", "kind", "what")
    halts = _table(head, rows(audit.halts), len(audit.halts)) if audit.halts else \
        "<p class=\"note\">No risk halt.</p>\n"
    commands = _table(head, rows(audit.commands), len(audit.commands)) if audit.commands \
        else "<p class=\"note\">No operator command.</p>\n"
    return ("<section id=\"events\"><h2>Risk halts and operator commands</h2>\n"
            "<h3>Risk halts</h3>\n<p class=\"note\">A halt stops new buying once the "
            "drawdown limit is hit; the replay checks each was due.</p>\n" + halts
            + "<h3>Operator commands</h3>\n<p class=\"note\">Commands as queued (Command, in "
              "the actor's command stream) and as the actor applied or refused them "
              "(Control, Deposit, investors' requests).</p>\n" + commands + "</section>\n")
