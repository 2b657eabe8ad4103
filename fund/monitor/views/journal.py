"""Journal: browse entries by actor, kind and time; verify now; export JSON lines."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from fund.commands.inspect import export_line
from fund.journal import EntryFilter, Journal
from fund.messages import Kind
from fund.monitor.views import common
from fund.verify import verify_stream

PAGE_SIZES = (50, 200, 1000)
EXPORT_CAP = 100_000
KINDS = tuple(Kind)


def _filter(store: Journal) -> tuple[str, EntryFilter, int]:
    streams = store.processes()
    cols = st.columns([2, 3, 2, 2, 1])
    process = cols[0].selectbox("Stream", streams, key="j-stream")
    kinds = cols[1].multiselect("Kinds", KINDS, key="j-kinds")
    since = cols[2].text_input("From (UTC)", key="j-since", placeholder="2024-03-01")
    until = cols[3].text_input("To (UTC)", key="j-until", placeholder="2024-03-31")
    size = int(cols[4].selectbox("Rows", PAGE_SIZES, key="j-size"))
    head = store.head(process)
    last = head.seq if head else 0
    first = st.number_input("From entry number", min_value=1, max_value=max(last, 1), value=1,
                            step=size, key="j-first")
    where = EntryFilter(first_seq=int(first), kinds=tuple(kinds),
                        since=_bound(since, "00:00:00"), until=_bound(until, "23:59:59.999999"))
    return str(process), where, size


def _bound(text: str, clock: str) -> str | None:
    text = text.strip()
    return None if not text else (text if "T" in text else f"{text}T{clock}")


def render(settings: common.Settings) -> None:
    """The journal page."""
    st.title("Journal")
    store = common.journal(settings)
    if store is None:
        return
    if not store.processes():
        st.info(f"{store.url} is empty.")
        return
    process, where, size = _filter(store)
    page = list(store.read(process, EntryFilter(
        first_seq=where.first_seq, kinds=where.kinds, since=where.since, until=where.until,
        limit=size)))
    st.caption(f"{store.url} · {process}: {store.count(process):,} entries; showing "
               f"{len(page)} from entry {where.first_seq:,}")
    st.dataframe(pd.DataFrame([{"entry": e.seq, "kind": e.kind, "time (UTC)": e.ts[:23],
                                "payload": e.payload[:200], "hash": e.hash[:16]}
                               for e in page]), hide_index=True, width="stretch")
    if page:
        chosen = st.selectbox("Show entry", [e.seq for e in page], key="j-entry")
        entry = next(e for e in page if e.seq == chosen)
        st.json({"seq": entry.seq, "kind": entry.kind, "ts": entry.ts,
                 "payload": json.loads(entry.payload), "prev_hash": entry.prev_hash,
                 "hash": entry.hash}, expanded=False)
    left, right = st.columns(2)
    if left.button("Verify now", key="j-verify", help="Check the hash chain and replay every "
                                                      "decision of this stream, as `fund verify`"):
        with st.spinner(f"Verifying {process}…"):
            report = verify_stream(store, process)
        if report.ok:
            left.success(f"{process} verifies: {report.entries:,} entries replayed, head "
                         f"`{report.head}`", icon="✅")
        else:
            left.error(f"{process} does NOT verify: {report.error}", icon="⚠️")
    export = EntryFilter(first_seq=where.first_seq, kinds=where.kinds, since=where.since,
                         until=where.until, limit=EXPORT_CAP)

    def jsonl() -> str:  # built only when the button is clicked
        return "".join(export_line(entry) for entry in store.read(process, export))

    right.download_button("Export JSONL", jsonl, file_name=f"{process}.jsonl",
                          mime="application/jsonl", key="j-export",
                          help=f"The filtered entries from the chosen entry on, at most "
                               f"{EXPORT_CAP:,}; `fund journal export` writes any number")
