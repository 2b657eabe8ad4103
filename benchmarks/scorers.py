"""Scorer benchmarks: headlines/s per scorer, cold and cached, and the sentiment fund's
backtest with wordllama against VADER.

    .venv/bin/python benchmarks/scorers.py [--runs 3] [--json]

Headlines: the 7,404 of ``../shared/data/news`` (the shipped 369 when it is absent).
*cold*: a new scorer (its model loaded) scores every headline once, through an empty score
cache; *cached*: the same headlines again, every score read from the cache. The backtest
is workload ``news`` of ``benchmarks/run.py`` (5-minute wakes over all shared headlines,
an empty score cache each run), once as configured (VADER) and once with
``scorer = { kind = "wordllama" }``; the target is wordllama within 2× of VADER.

finvader (``pip install finvader``, in the dev extra) is VADER's algorithm with financial
lexicons (SentiBignomics, Henry's word list). Its package downloads NLTK's copy of the
VADER lexicon when imported, which cannot happen offline, so :class:`FinVaderScorer` reads
its two lexicon modules directly and applies them, as finvader does with both lexicons on,
to vaderSentiment's analyser.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agentfund.oracles.scoring import (  # noqa: E402
    CachedScorer,
    ScoreCache,
    Scorer,
    ScorerIdentity,
    VaderScorer,
    clean_score,
)
from benchmarks.run import SENTIMENT, SHARED_NEWS, Workload, run_once  # noqa: E402

SHIPPED_NEWS = ROOT / "data" / "sample" / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
WORDLLAMA = 'actors.mentions.params.scorer={ kind = "wordllama" }'


def _finvader_lexicon(module: str, function: str) -> dict[str, float]:
    """Load one of finvader's lexicon modules without importing the finvader package."""
    spec = importlib.util.find_spec("finvader")
    if spec is None or spec.origin is None:
        raise SystemExit("finvader is not installed: pip install -e '.[dev]'")
    path = Path(spec.origin).parent / f"{module}.py"
    loaded = importlib.util.spec_from_file_location(f"_finvader_{module}", path)
    assert loaded is not None and loaded.loader is not None
    namespace = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(namespace)
    lexicon: dict[str, float] = getattr(namespace, function)()
    return lexicon


class FinVaderScorer(Scorer):
    """finvader with both lexicons (SentiBignomics × 0.1, then Henry's) on VADER's."""

    def __init__(self) -> None:
        from importlib.metadata import version

        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        senti = {k: v * 0.1 for k, v in _finvader_lexicon("SentiBignomics", "lexicon1").items()}
        self._analyzer = SentimentIntensityAnalyzer()
        self._analyzer.lexicon.update({**senti, **_finvader_lexicon("Henry", "lexicon2")})
        self.identity = ScorerIdentity("finvader", version("finvader"), "sentibignomics+henry")

    def score(self, texts: Sequence[str]) -> list[float]:
        """Return the compound score of each text."""
        polarity = self._analyzer.polarity_scores
        return [clean_score(polarity(text)["compound"]) for text in texts]


def _wordllama() -> Scorer:
    from agentfund.oracles.wordllama import WordLlamaScorer

    return WordLlamaScorer()


SCORERS: dict[str, Callable[[], Scorer]] = {
    "vader": VaderScorer, "wordllama": _wordllama, "finvader": FinVaderScorer}


def headlines() -> list[str]:
    """The shared headlines, or the shipped ones when ../shared is absent."""
    path = SHARED_NEWS if SHARED_NEWS.exists() else SHIPPED_NEWS
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [record["title"] for record in json.load(handle)]


def scoring_rates(titles: list[str]) -> list[dict[str, Any]]:
    """Headlines/s of each scorer: cold (load included, empty cache) and cached."""
    rows = []
    for name, make in SCORERS.items():
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            scorer = CachedScorer(make(), ScoreCache(Path(tmp) / "scores.sqlite"))
            loaded = time.perf_counter()
            scorer.score(titles)
            cold = time.perf_counter()
            scorer.score(titles)
            cached = time.perf_counter()
        rows.append({"scorer": name, "headlines": len(titles), "load_s": loaded - started,
                     "cold_per_s": len(titles) / (cold - started),
                     "cached_per_s": len(titles) / (cached - cold)})
    return rows


def backtests(runs: int) -> dict[str, float]:
    """Median seconds of the sentiment backtest with VADER and with wordllama."""
    cache = Path(tempfile.mkdtemp(prefix="agentfund-bench-cache-"))
    times: dict[str, float] = {}
    for name, args in (("vader", ()), ("wordllama", ("--set", WORDLLAMA))):
        workload = Workload(f"news-{name}", "", args, 0.0, SENTIMENT, True, SHARED_NEWS)
        samples = [run_once(workload, cache)[0].seconds for _ in range(runs)]
        times[name] = statistics.median(samples)
    return times


def main() -> int:
    """Print the scoring rates and the backtest times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="backtest runs per scorer")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    rates = scoring_rates(headlines())
    result: dict[str, Any] = {"scoring": rates}
    if SHARED_NEWS.exists():
        result["backtest_s"] = backtests(args.runs)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{'scorer':<10} {'headlines':>9} {'load s':>7} {'cold /s':>9} {'cached /s':>10}")
    for row in rates:
        print(f"{row['scorer']:<10} {row['headlines']:>9} {row['load_s']:>7.2f} "
              f"{row['cold_per_s']:>9,.0f} {row['cached_per_s']:>10,.0f}")
    if "backtest_s" in result:
        times = result["backtest_s"]
        ratio = times["wordllama"] / times["vader"]
        print(f"sentiment backtest (workload news, median of {args.runs}): VADER "
              f"{times['vader']:.2f} s, wordllama {times['wordllama']:.2f} s "
              f"({ratio:.2f}×, target ≤ 2×: {'met' if ratio <= 2 else 'MISSED'})")
    else:
        print("sentiment backtest skipped: ../shared/data/news is absent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
