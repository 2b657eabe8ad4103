"""Models: every scorer/model the fund used, and which model scored a given text.

Read from the journal by fund.models_ledger, the same fold as ``fund models`` and
``fund provenance``; the page also offers the public model ledger for download.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from agentfund.oracles.ledger import scored_texts
from agentfund.oracles.scoring import text_key
from fund import display
from fund.journal import Journal
from fund.models_ledger import ModelUse, Scoring, ledger_lines, models_used, provenance
from fund.monitor.views import common

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def score_rows(data: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """One row per distinct text a scored observation's ``data`` holds: the text, its score
    and the model that produced it (name, version and key), for a decision's table."""
    return [{"text": t.text, "score": _score(t.score), "model": t.model.label,
             "keywords": ", ".join(t.keywords), "sha256": t.sha256}
            for t in scored_texts(data)]


def _score(value: float | None) -> str:
    return display.NOTHING if value is None else f"{value:+.4f}"


def _heads(store: Journal, names: list[str]) -> tuple[tuple[str, int, str], ...]:
    heads = []
    for name in names:
        head = store.head(name)
        if head is not None:
            heads.append((name, head.seq, head.hash))
    return tuple(heads)


@st.cache_data(show_spinner=False, max_entries=8)
def _uses(_store: Journal, url: str, heads: tuple[tuple[str, int, str], ...]
          ) -> list[ModelUse]:
    """The models used, folded again only when a stream's head moved."""
    return models_used(_store)


def uses_table(uses: list[ModelUse]) -> pd.DataFrame:
    """The models as the page lists them: counts with separators, times to the second."""
    return pd.DataFrame([{
        "model": use.model.name, "version": use.model.version, "key": use.model.key,
        "detail": use.model.detail, "texts scored": display.count(use.texts),
        "distinct texts": display.count(use.distinct),
        "observations": display.count(use.observations),
        "first scored (UTC)": common.when(use.first), "last scored (UTC)": common.when(use.last),
        "actors": ", ".join(use.actors)} for use in uses])


def provenance_table(found: list[Scoring]) -> pd.DataFrame:
    """Each recorded scoring of one text: when, where, by which model, its output, and the
    decisions that used it."""
    return pd.DataFrame([{
        "time (UTC)": common.when(s.observation.entry.ts), "actor": s.observation.entry.actor,
        "entry": s.observation.entry.seq, "model": s.scored.model.label,
        "score": _score(s.scored.score), "keywords": ", ".join(s.scored.keywords),
        "decisions": ", ".join(f"{d.entry.seq} ({d.rule}, {d.intents} orders)"
                               for d in s.observation.decisions) or display.NOTHING,
        "entry hash": s.observation.entry.hash} for s in found])


def _ledger(store: Journal) -> Callable[[], bytes]:
    def body() -> bytes:  # built only when the button is clicked
        return "".join(ledger_lines(store)).encode()

    return body


def render(settings: common.Settings) -> None:
    """The models page."""
    opened = common.page(settings, "Models")
    if opened is None:
        return
    store, names = opened
    uses = _uses(store, store.url, _heads(store, names))
    if not uses:
        st.info("No observation in this journal records a scorer: no model scored anything.")
        return
    st.caption("Every scorer or model whose identity the journal records with a score; "
               "texts scored count each text once per observation (`fund models`).")
    st.dataframe(uses_table(uses), hide_index=True, width="stretch")
    st.download_button("Download the model ledger (JSON lines)", _ledger(store),
                       file_name="model-ledger.jsonl", key="m-ledger",
                       help="one line per text scored: its sha256, the model, the output and "
                            "the entry that holds it (fund journal export --model-ledger)")
    st.subheader("Which model scored a text?")
    asked = st.text_input("Text (exactly as scored) or its sha256", key="m-query").strip()
    if not asked:
        return
    digest = asked.lower() if _SHA256.fullmatch(asked) else text_key(asked)
    found = provenance(store, digest)
    if not found:
        st.warning(f"No model scored the text with sha256 `{digest}` in this journal.")
        return
    st.write(f"“{found[0].scored.text}” — sha256 `{digest}`")
    st.dataframe(provenance_table(found), hide_index=True, width="stretch")
