"""Journal: browse entries by actor, kind and time (click a row to open one); verify now;
export JSON lines; the manager's signed checkpoints and, given the public key, whether each
signature holds."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from fund.journal import EntryFilter, Journal
from fund.journal.jsonl import export_line
from fund.messages import Kind
from fund.monitor.views import common
from fund.verify import verify_stream

PAGE_SIZES = (50, 200, 1000)
EXPORT_CAP = 100_000
COUNT_CAP = 200_000
KINDS = tuple(Kind)


def _filter(store: Journal) -> tuple[str, EntryFilter, int]:
    streams = store.processes()
    cols = st.columns([2, 3, 2, 2, 1])
    process = str(cols[0].selectbox("Stream", streams, key="j-stream"))
    kinds = cols[1].multiselect("Kinds", KINDS, key="j-kinds")
    first_day, last_day = common.period(store, process)
    span = f"this stream runs from {first_day} to {last_day} (UTC)" if first_day else ""
    since = cols[2].text_input("From (UTC)", key="j-since", placeholder=first_day,
                               help=f"a date or a date and time; {span}")
    until = cols[3].text_input("To (UTC)", key="j-until", placeholder=last_day,
                               help=f"a date (the whole day) or a date and time; {span}")
    size = int(cols[4].selectbox("Rows", PAGE_SIZES, key="j-size"))
    head = store.head(process)
    last = head.seq if head else 0
    first = st.number_input("From entry number", min_value=1, max_value=max(last, 1), value=1,
                            step=size, key="j-first")
    where = EntryFilter(first_seq=int(first), kinds=tuple(kinds),
                        since=common.bound(since, "00:00:00"),
                        until=common.bound(until, "23:59:59.999999"))
    return process, where, size


def matching(store: Journal, process: str, where: EntryFilter) -> tuple[int, bool]:
    """How many entries of the stream the filter (kinds, time range) keeps, and whether that
    is exact (False past COUNT_CAP entries read); remembered until the stream grows."""
    head = store.head(process)
    memo: dict[tuple[object, ...], tuple[int, bool]] = st.session_state.setdefault(
        "j-counts", {})
    key = (store.url, process, where.kinds, where.since, where.until, head.seq if head else 0)
    if key not in memo:
        if where.since is None and where.until is None:
            memo[key] = store.count(process, where.kinds), True
        else:
            total = 0
            for _ in store.read(process, EntryFilter(kinds=where.kinds, since=where.since,
                                                     until=where.until, limit=COUNT_CAP + 1)):
                total += 1
            memo[key] = min(total, COUNT_CAP), total <= COUNT_CAP
    return memo[key]


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
    total = store.count(process)
    if where.kinds or where.since or where.until:
        count, exact = matching(store, process, where)
        counted = (f"{count:,} of {total:,} entries match the filter" if exact else
                   f"more than {count:,} of {total:,} entries match the filter")
    else:
        counted = f"{total:,} entries"
    st.caption(f"{store.url} · {process}: {counted}; showing {len(page)} from entry "
               f"{where.first_seq:,}" + ("; click a row to open it" if page else ""))
    event = st.dataframe(
        pd.DataFrame([{"entry": e.seq, "kind": e.kind, "time (UTC)": e.ts[:23],
                       "payload": e.payload[:200], "hash": e.hash[:16]} for e in page]),
        hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key=f"j-rows-{process}-{where}-{size}")
    picked = list(event.selection.rows) if event is not None else []
    if picked and picked[0] < len(page):
        entry = page[picked[0]]
        st.markdown(f"**Entry {entry.seq}: {entry.kind}**")
        st.json({"seq": entry.seq, "kind": entry.kind, "ts": entry.ts,
                 "payload": json.loads(entry.payload), "prev_hash": entry.prev_hash,
                 "hash": entry.hash}, expanded=True)
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
    checkpoints(store, settings.key)


UNCHECKED = "unchecked (no public key given)"


def checkpoints(store: Journal, key: str) -> None:
    """The signed checkpoints of every actor, and each signature's state against the
    manager's public key (when the UI was given one)."""
    from fund.attest import AttestError, fingerprint, load_public, valid
    from fund.checkpoints import journal_checkpoints

    st.subheader("Signed checkpoints")
    public = None
    if key:
        try:
            public = load_public(Path(key))
        except AttestError as exc:
            st.error(f"Cannot check signatures: {exc}")
    found = list(journal_checkpoints(store))
    if not found:
        st.caption("No signed checkpoints in this journal (the fund's config has no "
                   "[attest] key).")
        return
    st.caption(f"{len(found):,} checkpoint(s); "
               + (f"signatures checked against key `{fingerprint(public)}`" if public else
                  "start the UI with AGENTFUND_PUBLIC_KEY=manager.pub to check signatures"))
    st.dataframe(pd.DataFrame([{
        "actor": c.actor, "entry": c.seq, "time (UTC)": c.at[:19].replace("T", " "),
        "head": c.head[:16], "key": c.key,
        "signature": UNCHECKED if public is None else
        ("valid" if valid(c, public) else "INVALID: not signed by this key"),
    } for c in found]), hide_index=True, width="stretch")
