"""What every page shares: the open journal, snapshots with progress, formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import streamlit as st

from fund import display
from fund.canonical import parse_ts
from fund.journal import EntryFilter, Journal, JournalError, Lease, open_journal
from fund.messages import is_side_stream
from fund.monitor.snapshot import ActorSnapshot
from fund.monitor.store import forget, note, snapshot

LIVE_LEASE = timedelta(seconds=15)  # fund.daemon's LEASE_TTL


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the UI looks: the journal, the directory of backtest runs, and the manager's
    public key (if given)."""

    journal: str
    runs: Path
    key: str = ""  # the manager's public key file, to check checkpoints' signatures


@st.cache_resource(show_spinner=False)
def _open(target: str) -> Journal:
    return open_journal(target, must_exist=True)


def journal(settings: Settings) -> Journal | None:
    """The configured journal, or None after showing why it cannot be opened."""
    if not settings.journal:
        st.info("No journal chosen: start the UI with `fund ui JOURNAL_URL`, or enter one in "
                "the sidebar (an SQLite file path or a postgresql+psycopg:// URL).")
        return None
    try:
        return _open(settings.journal)
    except JournalError as exc:
        st.error(f"Cannot open the journal: {exc}")
        return None


def page(settings: Settings, title: str) -> tuple[Journal, list[str]] | None:
    """A page's title, its journal and actors; None (after saying why) if it has none."""
    st.title(title)
    store = journal(settings)
    if store is None:
        return None
    names = actors(store)
    if not names:
        st.info(f"{store.url} holds no actor yet.")
        return None
    return store, names


def actors(store: Journal) -> list[str]:
    """The actor streams (operators' command streams left out)."""
    return [p for p in store.processes() if not is_side_stream(p)]


def load(store: Journal, actor: str) -> ActorSnapshot:
    """The actor's snapshot, showing a progress bar while a long stream is first read
    (the stream is counted only then: a warm view costs no count)."""
    bar = st.empty()
    total: list[int] = []

    def progress(done: int) -> None:
        if not total:
            head = store.head(actor)  # its seq is the stream's length (a seek, not a count)
            total.append(head.seq if head is not None else 0)
        bar.progress(min(done / max(total[0], 1), 1.0),
                     text=f"{actor}: reading the journal ({done:,} of {total[0]:,} entries)…")

    try:
        return snapshot(store, actor, progress)
    finally:
        bar.empty()
        if (why := note(store, actor)) is not None:
            st.caption(why)


def chain_badge(snap: ActorSnapshot) -> None:
    """The verification badge: the hash chain's state and the head hash."""
    if snap.trusted:
        st.success(f"Hash chain intact: {snap.seq:,} entries, head `{snap.head_hash[:16]}…`",
                   icon="✅")
    else:
        st.error(f"Journal corrupted: {snap.chain_error}. The figures shown stop at entry "
                 f"{snap.seq:,}, the last one on the chain.", icon="⚠️")


def live_leases(store: Journal, now: datetime | None = None) -> dict[str, Lease]:
    """The leases held by daemons that renewed them recently (they are running)."""
    moment = now or datetime.now(UTC)
    return {lease.process_id: lease for lease in store.leases()
            if moment - parse_ts(lease.heartbeat) < LIVE_LEASE}


def money(value: Decimal | float | str | None, quote: str = "") -> str:
    """A money figure to the cent, with thousands separators (fund.display)."""
    return display.money(value, quote)


def percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals (fund.display)."""
    return display.percent(value)


def when(ts: str | None) -> str:
    """A journal timestamp as 'YYYY-MM-DD HH:MM' (UTC; seconds shown only when not 0)."""
    if not ts:
        return "—"
    text = ts[:19].replace("T", " ")
    return text[:16] if text.endswith(":00") else text


def period(store: Journal, process: str) -> tuple[str, str]:
    """The first and last day (UTC, 'YYYY-MM-DD') of a stream's entries; ('', '') if empty.

    Entries carry the fund's own time (a backtest's simulated clock), so this is the
    period the fund ran over: what date filters suggest as their placeholders.
    """
    first = next(iter(store.read(process, EntryFilter(limit=1))), None)
    last = next(iter(store.read(process, EntryFilter(descending=True, limit=1))), None)
    if first is None or last is None:
        return "", ""
    return first.ts[:10], last.ts[:10]


def bound(text: str, clock: str) -> str | None:
    """A date filter's bound: '2022-01-16' at ``clock``, or a date and time as given; None
    when empty or not a date (after saying so)."""
    text = text.strip()
    if not text:
        return None
    full = text if "T" in text or " " in text else f"{text}T{clock}"
    try:
        moment = datetime.fromisoformat(full.replace(" ", "T", 1).removesuffix("Z"))
    except ValueError:
        st.warning(f"“{text}” is not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM): ignored.")
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as the journal writes times


def reread(settings: Settings) -> None:
    """Forget every snapshot of the journal so the next view re-reads and re-checks it all."""
    store = journal(settings)
    if store is not None:
        forget(store, disk=True)
