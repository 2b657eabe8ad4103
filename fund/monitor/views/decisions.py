"""Decisions: a searchable, paged table; opening one shows everything that drove it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from fund.journal import BlobMissingError, Journal
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED
from fund.monitor.decisions import (
    DecisionQuery,
    Explanation,
    blob_digests,
    decision_page,
    explain,
)
from fund.monitor.views import common
from fund.monitor.views.performance import pick_actor

PAGE = 50


def _query(snap_rules: list[str]) -> DecisionQuery:
    cols = st.columns([3, 2, 2, 2, 2])
    text = cols[0].text_input("Search the decisions' text", key="d-text",
                              help="e.g. a symbol, a rule or a keyword; ignores case")
    rule = cols[1].selectbox("Rule", ["(any)", *snap_rules], key="d-rule")
    since = cols[2].text_input("From (UTC)", key="d-since", placeholder="2024-03-01")
    until = cols[3].text_input("To (UTC)", key="d-until", placeholder="2024-03-31T23:59")
    with_orders = cols[4].checkbox("Only with orders", key="d-orders")
    return DecisionQuery(text=text, rule="" if rule == "(any)" else str(rule),
                         since=_bound(since, "00:00:00"), until=_bound(until, "23:59:59.999999"),
                         with_orders=with_orders)


def _bound(text: str, clock: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    return text if "T" in text else f"{text}T{clock}"


def _table(store: Journal, actor: str, query: DecisionQuery) -> list[int]:
    key = f"d-cursors-{actor}-{query}"
    cursors: list[int | None] = st.session_state.setdefault(key, [None])
    rows, following = decision_page(store, actor, query, below=cursors[-1], size=PAGE)
    frame = pd.DataFrame([{"entry": r.seq, "time (UTC)": r.ts[:19].replace("T", " "),
                           "rule": r.rule, "orders": r.intents,
                           "reasons": json.dumps(r.reasons)[:160]} for r in rows])
    if frame.empty:
        st.info("No decision matches.")
    else:
        st.dataframe(frame, hide_index=True, width="stretch")
    left, middle, right = st.columns([1, 2, 1])
    if left.button("← Newer", disabled=len(cursors) == 1, key="d-newer"):
        cursors.pop()
        st.rerun()
    middle.caption(f"page {len(cursors)}, {len(rows)} decisions, newest first")
    if right.button("Older →", disabled=following is None, key="d-older"):
        cursors.append(following)
        st.rerun()
    return [r.seq for r in rows]


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
    seqs = _table(store, actor, _query(sorted(snap.rules)))
    wanted = st.query_params.get("decision")
    default = int(wanted) if wanted and wanted.isdigit() else (seqs[0] if seqs else 0)
    seq = st.number_input("Open decision (entry number)", min_value=0, value=default, step=1,
                          key="d-open")
    if seq:
        st.query_params["decision"] = str(seq)
        try:
            show(store, explain(store, actor, int(seq)))
        except KeyError as exc:
            st.warning(str(exc.args[0]))


def show(store: Journal, story: Explanation) -> None:
    """Everything behind one decision, in the order it happened."""
    payload = story.payload
    st.subheader(f"Decision {story.decision.seq}: {payload.get('rule', '')}")
    st.caption(f"wake scheduled {common.when(_scheduled(story))}, recorded "
               f"{common.when(story.decision.ts)}, hash `{story.decision.hash[:16]}…`")
    st.markdown(f"**Rule that fired:** `{payload.get('rule', '')}`")
    st.json(payload.get("reasons") or {}, expanded=True)
    for halt in story.halts:
        st.error(f"Halt before this decision: {json.dumps(halt)}")
    st.markdown(f"#### Inputs ({len(story.observations)} observations)")
    for entry, observation in story.observations:
        _observation(store, entry.seq, observation)
    st.markdown(f"#### Orders ({len(story.orders)})")
    if not story.orders:
        st.write("No order.")
    for order in story.orders:
        intent = order.intent
        st.markdown(f"**{intent['side']} {intent['amount']} {intent['symbol']}** "
                    f"({intent.get('type', 'market')}) · entry {order.seq} · "
                    f"client order id `{order.client_order_id}`")
        st.dataframe(pd.DataFrame([_event_row(seq, kind, event)
                                   for seq, kind, event in order.events]
                                  or [{"entry": "", "event": "no exchange event yet"}]),
                     hide_index=True, width="stretch")


def _scheduled(story: Explanation) -> str | None:
    if story.wake is None:
        return None
    return str(json.loads(story.wake.payload).get("scheduled"))


def _event_row(seq: int, kind: str, event: dict[str, Any]) -> dict[str, Any]:
    if kind == ORDER_ACK:
        detail = f"status {event.get('status')}, exchange id {event.get('exchange_order_id', '')}"
    elif kind == FILL:
        detail = (f"{event['side']} {event['amount']} @ {event['price']}, fee {event['fee']} "
                  f"{event.get('fee_currency', '')}")
    elif kind == ORDER_REJECTED:
        limit = f" (limit {event['limit']})" if "limit" in event else ""
        detail = (f"rejected by {event.get('source', 'exchange')}{limit}: "
                  f"{event.get('reason', '')}")
    else:
        detail = json.dumps(event)
    return {"entry": seq, "event": kind, "detail": detail}


def _observation(store: Journal, seq: int, observation: dict[str, Any]) -> None:
    name = observation.get("oracle", "?")
    with st.expander(f"{name} · entry {seq} · as of {common.when(observation.get('as_of'))}",
                     expanded=True):
        if observation.get("error"):
            st.warning(f"The oracle failed: {observation['error']}")
            return
        data = observation.get("data") or {}
        if "prices" in data:
            st.dataframe(pd.DataFrame([{"market": s, "price": q["price"], "time": q.get("time")}
                                       for s, q in data["prices"].items()]),
                         hide_index=True, width="stretch")
        if isinstance(data.get("keywords"), dict):
            _keywords(data["keywords"])
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
                     "mean score": figures.get("mean"), "sentences": figures.get("sentences"),
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
