"""The monitoring UI's pages and the router ``app.py`` calls.

The UI only reads: it opens the journal, folds snapshots and runs ``fund verify``'s
replay; it never appends an entry, places an order or changes a lease.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import streamlit as st

from fund.monitor.views import (
    backtests,
    common,
    decisions,
    investors,
    journal,
    models,
    overview,
    performance,
    trades,
)

PAGES: dict[str, Callable[[common.Settings], None]] = {
    "Overview": overview.render,
    "Charts": performance.render,
    "Trades": trades.render,
    "Decisions": decisions.render,
    "Investors": investors.render,
    "Models": models.render,
    "Journal": journal.render,
    "Backtests": backtests.render,
}


def settings_from(argv: Sequence[str]) -> common.Settings:
    """The journal, runs directory and manager's public key from ``app.py``'s arguments,
    else the environment (``AGENTFUND_JOURNAL``, ``AGENTFUND_RUNS``,
    ``AGENTFUND_PUBLIC_KEY``)."""
    parser = argparse.ArgumentParser(prog="app.py", add_help=False)
    parser.add_argument("--journal", default=os.environ.get("AGENTFUND_JOURNAL", ""))
    parser.add_argument("--runs", default=os.environ.get("AGENTFUND_RUNS", "runs"))
    parser.add_argument("--key", default=os.environ.get("AGENTFUND_PUBLIC_KEY", ""))
    known, _ = parser.parse_known_args(list(argv))
    return common.Settings(journal=known.journal, runs=Path(known.runs), key=known.key)


def masked(target: str) -> str:
    """A journal URL with its password (if any) replaced by ***."""
    if "://" not in target:
        return target
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(target)
    except ArgumentError:
        return target
    return url.render_as_string(hide_password=True) if url.password else target


def run(argv: Sequence[str]) -> None:
    """Render the page the sidebar (or ``?page=``) names."""
    st.set_page_config(page_title="agentfund", page_icon="📒", layout="wide")
    configured = settings_from(argv)
    st.sidebar.title("agentfund")
    st.sidebar.caption("Read-only monitor: what each fund did, and why.")
    wanted = st.query_params.get("page", "Overview")
    names = list(PAGES)
    page = st.sidebar.radio("Page", names, index=names.index(wanted) if wanted in names else 0,
                            key="page")
    st.query_params["page"] = str(page)
    shown = masked(configured.journal)
    typed = st.sidebar.text_input("Journal", value=shown, key="journal",
                                  help="SQLite file or journal URL")
    target = configured.journal if typed == shown else typed  # never echo a password
    runs = st.sidebar.text_input("Backtest runs directory", value=str(configured.runs),
                                 key="runs")
    settings = common.Settings(journal=target.strip(), runs=Path(runs), key=configured.key)
    if st.sidebar.button("Re-read from the journal", key="reread",
                         help="Drop the cached snapshots and re-check every hash"):
        common.reread(settings)
    PAGES[str(page)](settings)
