"""What every page shares: the open journal, snapshots with progress, formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import streamlit as st

from fund.canonical import parse_ts
from fund.journal import Journal, JournalError, Lease, open_journal
from fund.messages import is_commands_stream
from fund.monitor.snapshot import ActorSnapshot
from fund.monitor.store import forget, snapshot

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
    return [p for p in store.processes() if not is_commands_stream(p)]


def load(store: Journal, actor: str) -> ActorSnapshot:
    """The actor's snapshot, showing a progress bar while a long stream is first read
    (the stream is counted only then: a warm view costs no count)."""
    bar = st.empty()
    total: list[int] = []

    def progress(done: int) -> None:
        if not total:
            total.append(store.count(actor))
        bar.progress(min(done / max(total[0], 1), 1.0),
                     text=f"{actor}: reading the journal ({done:,} of {total[0]:,} entries)…")

    try:
        return snapshot(store, actor, progress)
    finally:
        bar.empty()


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


def money(value: Decimal | float | None, quote: str = "") -> str:
    """A money figure to the cent, with thousands separators."""
    if value is None:
        return "—"
    text = f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"
    return f"{text} {quote}".strip()


def percent(value: float | None) -> str:
    """A fraction as a percentage with two decimals."""
    return "—" if value is None else f"{value * 100:.2f} %"


def when(ts: str | None) -> str:
    """A journal timestamp as 'YYYY-MM-DD HH:MM' (UTC; seconds shown only when not 0)."""
    if not ts:
        return "—"
    text = ts[:19].replace("T", " ")
    return text[:16] if text.endswith(":00") else text


def reread(settings: Settings) -> None:
    """Forget every snapshot of the journal so the next view re-reads and re-checks it all."""
    store = journal(settings)
    if store is not None:
        forget(store, disk=True)
