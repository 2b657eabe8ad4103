"""``fund oracle page|feed URL``: run a live news oracle once and show what it recorded."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fund.errors import RunFailed, UsageError
from fund.journal.base import blob_digest
from fund.messages import Observation


class _Blobs:
    """Keeps the bodies in memory: this command records nothing."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def put_blob(self, data: bytes) -> str:
        digest = blob_digest(data)
        self.sizes[digest] = len(data)
        return digest


def parse_keyword(text: str) -> tuple[str, tuple[str, ...]]:
    """``Trump`` or ``Trump=Donald Trump,Trump's`` → (name, aliases)."""
    name, _, aliases = text.partition("=")
    if not name.strip():
        raise UsageError(f"--keyword {text!r}: expected NAME or NAME=ALIAS,ALIAS")
    return name.strip(), tuple(a.strip() for a in aliases.split(",") if a.strip())


def parse_scorer(text: str) -> Any:
    """``--scorer``: a kind or ``package.module:Class`` as is, or a TOML inline table."""
    import tomllib

    if not text.lstrip().startswith("{"):
        return text
    try:
        return tomllib.loads(f"scorer = {text}")["scorer"]
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--scorer {text!r}: not a TOML inline table: {exc}") from None


def run_oracle(kind: str, urls: Sequence[str], keywords: Sequence[str], as_json: bool, *,
               deadline: float = 30.0, scorer: str = "vader") -> int:
    """Fetch, extract and (with keywords) score; print a summary or the JSON data.

    Each URL gets ``deadline`` seconds in all (retries and slow answers included): past it,
    that URL has failed, and when every URL failed this raises RunFailed naming the first.
    """
    if not (math.isfinite(deadline) and deadline > 0):
        raise UsageError(f"--deadline {deadline:g}: expected a positive number of seconds")
    from agentfund.oracles.base import OracleError, Recorded
    from agentfund.oracles.http import Fetcher
    from agentfund.oracles.mentions import Keyword
    from agentfund.oracles.rss import RssOracle
    from agentfund.oracles.scorers import ScorerConfigError, make_scorer
    from agentfund.oracles.sentiment import SentimentOracle
    from agentfund.oracles.web import WebPageOracle

    setting = parse_scorer(scorer)
    try:
        scoring = make_scorer(setting) if keywords else None
    except ScorerConfigError as exc:
        raise UsageError(f"--{exc}") from None
    now = datetime.now(UTC)  # a command, not a handler: the wall clock is fine here
    blobs = _Blobs()
    with Fetcher(deadline=deadline) as fetcher:
        oracle = (WebPageOracle("news", urls, fetcher) if kind == "page"
                  else RssOracle("news", urls, fetcher))
        try:
            data = oracle.observe(now, blobs)
        except OracleError as exc:
            raise RunFailed(f"oracle failed: {exc}") from None
    result: dict[str, Any] = {"news": data}
    if scoring is not None:
        parsed = [Keyword(name=n, aliases=a) for n, a in map(parse_keyword, keywords)]
        news = Observation(oracle="news", seq=1, as_of=now, data=data)
        sentiment = SentimentOracle("sentiment", "news", parsed, scoring)
        result["sentiment"] = sentiment.observe(now, blobs, Recorded(this_wake={"news": news}))
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        _print(result)
    return 0


def _print(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    news = result["news"]
    table = Table(title=f"{len(news['items'])} item(s)", title_justify="left")
    for column in ("published", "title", "chars", "source"):
        table.add_column(column, overflow="fold")
    for item in news["items"][:50]:
        table.add_row(item.get("published") or "", item["title"], str(len(item["text"])),
                      item["source"])
    console = Console()
    console.print(table)
    for error in news.get("errors", []):
        console.print(f"error: {error['url']}: {error['error']}", highlight=False)
    scorer = result.get("sentiment", {}).get("scorer", {}).get("name", "")
    for name, figures in result.get("sentiment", {}).get("keywords", {}).items():
        console.print(f"{name}: {figures['mentions']} mention(s) in {figures['sentences']} "
                      f"sentence(s), mean {scorer} score {figures['mean']:+.4f}", highlight=False)
