"""``fund models``, ``fund provenance`` and ``fund journal export --model-ledger``: which
model scored what, read from the journal (fund.models_ledger); nothing is written to it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentfund.oracles.scoring import text_key
from fund import display
from fund.errors import RunFailed, UsageError
from fund.journal import Journal, open_journal
from fund.models_ledger import (
    ModelUse,
    Scoring,
    actor_streams,
    decision_record,
    ledger_lines,
    ledger_record,
    models_used,
    provenance,
)

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _checked(journal: Journal, actors: Sequence[str]) -> list[str]:
    streams = actor_streams(journal)
    missing = [a for a in actors if a not in streams]
    if missing:
        raise UsageError(f"{journal.url}: no actor {', '.join(missing)} "
                         f"(actors: {', '.join(streams) or 'none'})")
    return list(actors)


def use_record(use: ModelUse) -> dict[str, Any]:
    """Return one model's use as a mapping (for ``--json`` and the UI)."""
    return {"model": use.model.fields, "texts": use.texts, "distinct": use.distinct,
            "observations": use.observations, "first": use.first, "last": use.last,
            "actors": list(use.actors)}


def list_models(target: str, *, actors: Sequence[str], as_json: bool) -> int:
    """Print every model the fund used, with the texts it scored and first/last use."""
    with open_journal(target, must_exist=True) as journal:
        uses = models_used(journal, _checked(journal, actors))
        url = journal.url
    if as_json:
        print(json.dumps({"journal": url, "models": [use_record(u) for u in uses]}))
        return 0
    if not uses:
        print(f"{url}: no observation records a scorer (no model scored anything)")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=url, title_justify="left")
    for column in ("model", "version", "key", "detail", "texts", "distinct", "observations",
                   "first scored (UTC)", "last scored (UTC)", "actors"):
        table.add_column(column, no_wrap=True, overflow="ellipsis",
                         justify="right" if column in ("texts", "distinct", "observations")
                         else "left")
    for use in uses:
        model = use.model
        table.add_row(model.name, model.version, model.key, _short(model.detail),
                      display.count(use.texts), display.count(use.distinct),
                      display.count(use.observations), _when(use.first), _when(use.last),
                      ", ".join(use.actors))
    Console(width=max(160, Console().width)).print(table)
    return 0


def _short(text: str, width: int = 16) -> str:
    return text if len(text) <= width else text[:width] + "…"


def _when(ts: str | None) -> str:
    return ts[:19].replace("T", " ") if ts else display.NOTHING


def wanted_sha256(text: str | None, sha256: str | None) -> str:
    """Return the sha256 asked for: of ``text`` (UTF-8), or ``sha256`` checked."""
    if text is not None:
        return text_key(text)
    if sha256 is None or not _SHA256.fullmatch(sha256.strip()):
        raise UsageError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    return sha256.strip().lower()


def show_provenance(target: str, *, text: str | None, sha256: str | None,
                    actors: Sequence[str], as_json: bool) -> int:
    """Print which model scored a text, when, with what output, and the decisions that used
    it; exit 1 if the journal records no scoring of it."""
    digest = wanted_sha256(text, sha256)
    with open_journal(target, must_exist=True) as journal:
        found = provenance(journal, digest, _checked(journal, actors))
        url = journal.url
    if not found:
        hint = (" (a scored text is a headline, or one sentence of an item's text, exactly as "
                "recorded)" if text is not None else "")
        raise RunFailed(f"{url}: no model scored the text with sha256 {digest}{hint}")
    if as_json:
        print(json.dumps({"sha256": digest, "text": found[0].scored.text,
                          "scorings": [provenance_record(s) for s in found]}))
        return 0
    print(f"text    {found[0].scored.text!r}")
    print(f"sha256  {digest}")
    print(f"scored  {len(found)} time{'' if len(found) == 1 else 's'} in {url}")
    for scoring in found:
        _print_scoring(scoring)
    return 0


def provenance_record(scoring: Scoring) -> dict[str, Any]:
    """Return one scoring of a text as a mapping: the ledger's fields, the keywords it was
    found under, the items it came from and the decisions that used it."""
    record = ledger_record(scoring)
    record.update(keywords=list(scoring.scored.keywords), items=list(scoring.scored.items),
                  decisions=[decision_record(d) for d in scoring.observation.decisions])
    return record


def _print_scoring(scoring: Scoring) -> None:
    entry, scored = scoring.observation.entry, scoring.scored
    print()
    print(f"{_when(entry.ts)}Z  {entry.actor} entry {entry.seq} ({scoring.observation.oracle})")
    print(f"  model      {scored.model.label}  detail {scored.model.detail or display.NOTHING}")
    print(f"  output     {output_text(scored.output)}")
    print(f"  keywords   {', '.join(scored.keywords) or display.NOTHING}")
    print(f"  entry hash {entry.hash}")
    if not scoring.observation.decisions:
        print("  decisions  none (recorded after its wake's decision)")
    for decision in scoring.observation.decisions:
        orders = f"{decision.intents} order{'' if decision.intents == 1 else 's'}"
        print(f"  decision   {decision.entry.actor} entry {decision.entry.seq} at "
              f"{_when(decision.entry.ts)}Z: {decision.rule}, {orders} "
              f"(hash {decision.entry.hash})")


def output_text(output: Any) -> str:
    """Return a model's recorded output for a text as one line: the score, then the rest."""
    if not isinstance(output, dict):
        return display.NOTHING
    parts = []
    if "score" in output:
        score = output["score"]
        parts.append(f"score {display.NOTHING if score is None else f'{float(score):+.4f}'}")
    parts += [f"{key} {value}" for key, value in sorted(output.items()) if key != "score"]
    return ", ".join(parts) or display.NOTHING


def export_ledger(target: str, out: Path, *, actors: Sequence[str]) -> int:
    """Write the public model ledger to ``out``: one JSON line per text scored."""
    with open_journal(target, must_exist=True) as journal:
        chosen = _checked(journal, actors)
        try:
            handle = out.open("w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{out}: cannot write it ({exc.strerror or exc})") from None
        lines = 0
        with handle:
            for line in ledger_lines(journal, chosen):
                handle.write(line)
                lines += 1
    print(f"model ledger: {display.count(lines)} scored text{'' if lines == 1 else 's'} "
          f"written to {out}")
    return 0
