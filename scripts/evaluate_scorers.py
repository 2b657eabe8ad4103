"""Evaluate the scorers (VADER, finvader, wordllama) on labelled headlines; print a table.

    .venv/bin/python scripts/evaluate_scorers.py [--markdown]

Labels: the 7,404 Reddit headlines of ``../shared/data/news`` carry the scraper's own
AFINN-165 score (npm ``sentiment``); the label is its sign (negative, neutral, positive).
These are *derived* labels — another lexicon's verdict, not human judgements of each
headline — and none of the three scorers was fitted on them (the wordllama head was
fitted on VADER's lexicon alone). A scorer's class is the sign of its score with VADER's
usual dead zone: positive ≥ 0.05, negative ≤ -0.05, neutral in between.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scorers import SCORERS  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "news" / "reddit_news_headlines_2021-11_2022-06.json.gz"


def label(value: float, dead_zone: float = 0.05) -> int:
    """-1, 0 or 1: the class of a score."""
    return 1 if value >= dead_zone else -1 if value <= -dead_zone else 0


def main() -> int:
    """Score every headline with each scorer and print accuracy, agreement and speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"needs {DATA} (the team's shared data)")
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    titles = [record["title"] for record in records]
    truth = [label(record["sentiment"], 0.5) for record in records]
    classes: dict[str, list[int]] = {}
    speed: dict[str, float] = {}
    for name, make in SCORERS.items():
        scorer = make()
        started = time.perf_counter()
        scores = scorer.score(titles)
        speed[name] = len(titles) / (time.perf_counter() - started)
        classes[name] = [label(score) for score in scores]
    polar = [i for i, t in enumerate(truth) if t]
    rows = []
    for name, predicted in classes.items():
        accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)
        on_polar = sum(predicted[i] == truth[i] for i in polar) / len(polar)
        agree = {other: sum(a == b for a, b in zip(predicted, theirs, strict=True)) / len(truth)
                 for other, theirs in classes.items() if other != name}
        rows.append((name, accuracy, on_polar, agree, speed[name]))
    counts = {c: truth.count(c) for c in (-1, 0, 1)}
    print(f"{len(titles)} headlines; AFINN-derived labels: {counts[-1]} negative, "
          f"{counts[0]} neutral, {counts[1]} positive")
    names = list(classes)
    head = ["scorer", "accuracy (3 classes)", "accuracy on polar labels",
            *[f"agreement with {n}" for n in names], "headlines/s (uncached, one core)"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("| --- |" + " ---: |" * (len(head) - 1))
    for name, accuracy, on_polar, agree, per_s in rows:
        cells = [name, f"{accuracy:.1%}", f"{on_polar:.1%}",
                 *[f"{agree[n]:.1%}" if n in agree else "—" for n in names], f"{per_s:,.0f}"]
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
