"""Decisions: a searchable, paged table; clicking a row opens the decision with everything
that drove it. The opened decision always matches the search (or none is open)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
import streamlit as st

from fund import display
from fund.journal import BlobMissingError, Journal
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED
from fund.monitor.decisions import (
    DecisionQuery,
    DecisionRow,
    Explanation,
    blob_digests,
    count_decisions,
    decision_matches,
    decision_page,
    explain,
)
from fund.monitor.snapshot import ActorSnapshot
from fund.monitor.views import common
from fund.monitor.views.models import score_rows
from fund.monitor.views.performance import pick_actor

PAGE = 50
COUNTED = 50_000  # decisions read, at most, to count those a filter keeps
SEARCH_HELP = ("Looks in what a decision acted on: its orders (side, market, client order "
               "id), its rule and the words of its reasons (the headlines it scored). A "
               "market it merely lists (a rebalance's drift table names every market) does "
               "not match. Ignores case.")


def _query(snap_rules: list[str], period: tuple[str, str]) -> DecisionQuery:
    first, last = period
    cols = st.columns([3, 2, 2, 2, 2])
    text = cols[0].text_input("Search what decisions acted on", key="d-text",
                              help=SEARCH_HELP, placeholder="e.g. BTC/USDT, sell, a headline")
    rule = cols[1].selectbox("Rule", ["(any)", *snap_rules], key="d-rule")
    span = f"this fund's journal runs from {first} to {last} (UTC)" if first else ""
    since = cols[2].text_input("From (UTC)", key="d-since", placeholder=first,
                               help=f"a date or a date and time; {span}")
    until = cols[3].text_input("To (UTC)", key="d-until", placeholder=last,
                               help=f"a date (the whole day) or a date and time; {span}")
    with_orders = cols[4].checkbox("Only with orders", key="d-orders")
    return DecisionQuery(text=text, rule="" if rule == "(any)" else str(rule),
                         since=common.bound(since, "00:00:00"),
                         until=common.bound(until, "23:59:59.999999"),
                         with_orders=with_orders)


def _count(store: Journal, actor: str, query: DecisionQuery, head: int) -> tuple[int, bool]:
    """The number of decisions the query lists (remembered until the stream grows)."""
    memo: dict[tuple[Any, ...], tuple[int, bool]] = st.session_state.setdefault("d-counts", {})
    key = (store.url, actor, query, head)
    if key not in memo:
        memo[key] = count_decisions(store, actor, query, scan_limit=COUNTED)
    return memo[key]


def _table(store: Journal, actor: str, query: DecisionQuery, head: int,
           snap: ActorSnapshot) -> tuple[list[DecisionRow], int | None]:
    """The page of matching decisions; returns its rows and the one the reader clicked."""
    key = f"d-cursors-{actor}-{query}"
    cursors: list[int | None] = st.session_state.setdefault(key, [None])
    rows, following = decision_page(store, actor, query, below=cursors[-1], size=PAGE)
    frame = pd.DataFrame([{"entry": r.seq, "time (UTC)": r.ts[:19].replace("T", " "),
                           "rule": r.rule, "orders": r.intents, "traded": ", ".join(r.traded),
                           "reasons": summary(r.reasons, snap)} for r in rows])
    clicked = None
    if frame.empty:
        st.info("No decision matches." if len(cursors) == 1 else
                "No more matching decisions on this page.")
    else:
        event = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row",
                             key=f"d-rows-{actor}-{query}-{len(cursors)}-{cursors[-1]}")
        picked = list(event.selection.rows) if event is not None else []
        clicked = rows[picked[0]].seq if picked and picked[0] < len(rows) else None
    total, complete = _count(store, actor, query, head)
    first = (len(cursors) - 1) * PAGE
    shown = f"decisions {first + 1:,}–{first + len(rows):,}" if rows else "no decision"
    matching = " matching" if query.filtered else ""
    of = f"{total:,}{matching}" if complete else \
        f"at least {total:,}{matching} (counted in the newest {COUNTED:,} decisions)"
    left, middle, right = st.columns([1, 3, 1])
    if left.button("← Newer", disabled=len(cursors) == 1, key="d-newer"):
        cursors.pop()
        st.rerun()
    middle.caption(f"page {len(cursors)}: {shown} of {of}, newest first; "
                   "click a row to open it")
    if len(rows) < PAGE and following is not None:
        middle.caption(f"searched down to entry {following:,}: “Older →” searches on")
    if right.button("Older →", disabled=following is None, key="d-older"):
        cursors.append(following)
        st.rerun()
    return rows, clicked


def render(settings: common.Settings) -> None:
    """The decisions page."""
    opened = common.page(settings, "Decisions")
    if opened is None:
        return
    store, names = opened
    actor = pick_actor(names, "d-actor")
    snap = common.load(store, actor)
    if not snap.trusted:
        common.chain_badge(snap)
    query = _query(sorted(snap.rules), common.period(store, actor))
    rows, clicked = _table(store, actor, query, snap.seq, snap)
    seq = _opened(store, actor, query, rows, clicked)
    if seq is None:
        st.query_params.pop("decision", None)
        st.caption("No decision open: click a row of the table to open one.")
        return
    st.query_params["decision"] = str(seq)
    try:
        show(store, explain(store, actor, seq), snap)
    except KeyError as exc:
        st.warning(str(exc.args[0]))


def _opened(store: Journal, actor: str, query: DecisionQuery, rows: list[DecisionRow],
            clicked: int | None) -> int | None:
    """The decision to show: the row clicked; else the one open before (or named by
    ``?decision=``) while it still matches the query; else the newest match; else none."""
    key = f"d-opened-{actor}"
    seq = clicked
    if seq is None:
        before = st.session_state.get(key)
        if before is None:
            wanted = st.query_params.get("decision")
            before = int(wanted) if wanted and wanted.isdigit() else None
        if before is not None and (any(r.seq == before for r in rows)
                                   or decision_matches(store, actor, query, before)):
            seq = before
        else:
            seq = rows[0].seq if rows else None
    st.session_state[key] = seq
    return seq


def summary(reasons: dict[str, Any], snap: ActorSnapshot | None = None) -> str:
    """A decision's reasons in one short line, for the table."""
    drift = _drift(reasons)
    if drift is not None:
        nav, threshold, by_market = drift
        if not by_market or not nav:
            return f"band ±{display.percent(threshold / nav) if nav else '—'} of NAV"
        market, value = max(by_market.items(), key=lambda kv: abs(kv[1]))
        return (f"largest drift {market} {display.signed_percent(value / nav)} of NAV "
                f"(band ±{display.percent(threshold / nav)})")
    parts = []
    for name, value in reasons.items():
        if isinstance(value, dict) and ("signal" in value or "action" in value):
            mentions = value.get("mentions")
            parts.append(f"{name}: {value.get('action', '')}, signal "
                         f"{_figure(value.get('signal'), 3, signed=True)}"
                         + (f", {mentions} mention{'' if mentions == 1 else 's'}"
                            if mentions is not None else ""))
        elif not isinstance(value, dict | list):
            parts.append(f"{name}: {_value(value)}")
    return "; ".join(parts)[:200]


def _drift(reasons: dict[str, Any]) -> tuple[Decimal, Decimal, dict[str, Decimal]] | None:
    """A rebalance's NAV, band (in money) and drift per market, or None if it is not one."""
    if not isinstance(reasons.get("drift"), dict) or "nav" not in reasons:
        return None
    try:
        nav = Decimal(str(reasons["nav"]))
        threshold = Decimal(str(reasons.get("threshold", 0)))
        drift = {str(k): Decimal(str(v)) for k, v in reasons["drift"].items()}
    except (InvalidOperation, ValueError):
        return None
    return nav, threshold, drift


def _figure(value: Any, places: int = 2, *, signed: bool = False) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return display.NOTHING if value is None else str(value)
    text = display.ratio(number, places)
    return f"+{text}" if signed and number >= 0 else text


def _value(value: Any) -> str:
    """A reason's value as text: numbers through fund.display, lists joined."""
    if isinstance(value, bool) or value is None:
        return display.NOTHING if value is None else str(value)
    if isinstance(value, int | float | Decimal):
        return display.significant(value)
    if isinstance(value, str):
        try:
            Decimal(value)
        except InvalidOperation:
            return value
        return display.significant(value) if value.strip() else value
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    return json.dumps(value, default=str)


def show(store: Journal, story: Explanation, snap: ActorSnapshot | None = None) -> None:
    """Everything behind one decision, in the order it happened."""
    payload = story.payload
    markets = snap.markets if snap is not None else {}
    st.subheader(f"Decision {story.decision.seq}: {payload.get('rule', '')}")
    st.caption(f"wake scheduled {common.when(_scheduled(story))}, recorded "
               f"{common.when(story.decision.ts)}, hash `{story.decision.hash[:16]}…`")
    st.markdown(f"**Rule that fired:** `{payload.get('rule', '')}`")
    reasons(payload.get("reasons") or {}, story, snap)
    for halt in story.halts:
        st.error(f"Halt before this decision: {json.dumps(halt)}")
    st.markdown(f"#### Inputs ({len(story.observations)} observations)")
    for entry, observation in story.observations:
        _observation(store, entry.seq, observation, markets)
    st.markdown(f"#### Orders ({len(story.orders)})")
    if not story.orders:
        st.write("No order.")
    for order in story.orders:
        intent = order.intent
        market = markets.get(str(intent["symbol"]))
        st.markdown(f"**{intent['side']} {display.amount(intent['amount'], market)} "
                    f"{intent['symbol']}** "
                    f"({intent.get('type', 'market')}) · entry {order.seq} · "
                    f"client order id `{order.client_order_id}`")
        st.dataframe(pd.DataFrame([_event_row(seq, kind, event, markets)
                                   for seq, kind, event in order.events]
                                  or [{"entry": "", "event": "no exchange event yet"}]),
                     hide_index=True, width="stretch")


def reasons(given: dict[str, Any], story: Explanation, snap: ActorSnapshot | None) -> None:
    """The reasons as tables: a rebalance's drift per market as % of NAV against its band,
    a signal's figures per market, and any other reason as a name and a value."""
    quote = snap.quote if snap is not None else ""
    markets = snap.markets if snap is not None else {}
    ordered: dict[str, list[str]] = {}
    for order in story.orders:
        intent = order.intent
        ordered.setdefault(str(intent["symbol"]), []).append(
            f"{intent['side']} {display.amount(intent['amount'], markets.get(intent['symbol']))}")
    rest = dict(given)
    drift = _drift(given)
    if drift is not None:
        nav, threshold, by_market = drift
        for name in ("nav", "threshold", "drift"):
            rest.pop(name, None)
        band = threshold / nav if nav else None
        st.markdown(f"**Drift from the target weights** — NAV {display.money(nav, quote)}; "
                    f"band ±{display.percent(band)} of NAV "
                    f"({display.money(threshold, quote)}): a market whose drift reaches the "
                    "band is traded back to its target. Positive drift: under its target.")
        st.dataframe(pd.DataFrame([{
            "market": market,
            "drift": display.money(value, quote),
            "drift (% of NAV)": display.signed_percent(value / nav) if nav else display.NOTHING,
            "band (% of NAV)": f"±{display.percent(band)}",
            "beyond the band": "yes" if abs(value) >= threshold else "no",
            "order": ", ".join(ordered.get(market, [])) or display.NOTHING,
        } for market, value in by_market.items()]), hide_index=True, width="stretch")
    signals = {name: value for name, value in given.items()
               if isinstance(value, dict) and ("signal" in value or "action" in value)}
    if signals:
        for name in signals:
            rest.pop(name, None)
        st.markdown("**Signal per market**")
        st.dataframe(pd.DataFrame([{
            "market": name, "action": str(figures.get("action", "")),
            "mentions": display.count(figures.get("mentions")),
            "sentences": display.count(figures.get("sentences")),
            "mean score": _figure(figures.get("mean"), 3, signed=True),
            "signal": _figure(figures.get("signal"), 3, signed=True),
            "order": ", ".join(ordered.get(name, [])) or display.NOTHING,
            "headlines scored": "; ".join(_hit(h) for h in figures.get("hits", [])[:5])
                                or display.NOTHING,
        } for name, figures in signals.items()]), hide_index=True, width="stretch")
    if rest:
        st.dataframe(pd.DataFrame([{"reason": name, "value": _value(value)}
                                   for name, value in rest.items()]),
                     hide_index=True, width="stretch")
    if not given:
        st.caption("The decision gave no reason.")


def _scheduled(story: Explanation) -> str | None:
    if story.wake is None:
        return None
    return str(json.loads(story.wake.payload).get("scheduled"))


def _event_row(seq: int, kind: str, event: dict[str, Any],
               markets: dict[str, Market] | None = None) -> dict[str, Any]:
    market = (markets or {}).get(str(event.get("symbol", "")))
    if kind == ORDER_ACK:
        detail = f"status {event.get('status')}, exchange id {event.get('exchange_order_id', '')}"
    elif kind == FILL:
        currency = str(event.get("fee_currency", ""))
        quoted = currency and str(event.get("symbol", "")).endswith(f"/{currency}")
        fee = display.money(event["fee"]) if quoted else display.significant(event["fee"])
        detail = (f"{event['side']} {display.amount(event['amount'], market)} @ "
                  f"{display.price(event['price'], market)}, fee {fee} {currency}")
    elif kind == ORDER_REJECTED:
        limit = f" (limit {display.significant(event['limit'])})" if "limit" in event else ""
        detail = (f"rejected by {event.get('source', 'exchange')}{limit}: "
                  f"{event.get('reason', '')}")
    else:
        detail = json.dumps(event)
    return {"entry": seq, "event": kind, "detail": detail}


def _observation(store: Journal, seq: int, observation: dict[str, Any],
                 markets: dict[str, Market]) -> None:
    name = observation.get("oracle", "?")
    with st.expander(f"{name} · entry {seq} · as of {common.when(observation.get('as_of'))}",
                     expanded=True):
        if observation.get("error"):
            st.warning(f"The oracle failed: {observation['error']}")
            return
        data = observation.get("data") or {}
        if "prices" in data:
            st.dataframe(pd.DataFrame([{"market": s,
                                        "price": display.price(q["price"], markets.get(s)),
                                        "time": q.get("time")}
                                       for s, q in data["prices"].items()]),
                         hide_index=True, width="stretch")
        if isinstance(data.get("keywords"), dict):
            _keywords(data["keywords"])
            scored = score_rows(data)
            if scored:
                st.caption("Which model produced each score (the model ledger: `fund "
                           "provenance --text …` finds any of them again)")
                st.dataframe(pd.DataFrame(scored), hide_index=True, width="stretch")
        items = data.get("items")
        if isinstance(items, list) and items:
            st.dataframe(pd.DataFrame([_item(i) for i in items]), hide_index=True,
                         width="stretch")
        for number, digest in enumerate(blob_digests(data)):
            st.download_button(f"Stored body {digest[:12]}…", _blob(store, digest),
                               file_name=f"{digest}.html", key=f"blob-{seq}-{number}",
                               help="the page or feed exactly as fetched, from the journal")
        other = {k: v for k, v in data.items() if k not in ("prices", "keywords", "items")}
        if other:
            st.json(other, expanded=False)


def _blob(store: Journal, digest: str) -> Callable[[], bytes]:
    def body() -> bytes:  # read only when the button is clicked
        try:
            return store.get_blob(digest)
        except BlobMissingError:
            return f"blob {digest} is missing from the journal".encode()

    return body


def _keywords(keywords: dict[str, Any]) -> None:
    rows = []
    for name in sorted(keywords):
        figures = keywords[name]
        rows.append({"keyword": name, "mentions": figures.get("mentions"),
                     "mean score": _figure(figures.get("mean"), 3, signed=True),
                     "sentences": figures.get("sentences"),
                     "headlines": "; ".join(_hit(h) for h in figures.get("hits", [])[:5])})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _hit(hit: Any) -> str:
    if isinstance(hit, dict) and "sentence" in hit:
        return f"“{hit['sentence']}” ({float(hit.get('score', 0)):+.3f})"
    return str(hit)


def _item(item: dict[str, Any]) -> dict[str, Any]:
    return {"published": item.get("published"), "title": item.get("title"),
            "source": item.get("source"), "link": item.get("link") or item.get("url"),
            "extract": (item.get("text") or item.get("summary") or "")[:300]}
