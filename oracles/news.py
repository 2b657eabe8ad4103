"""Live news from several feeds and pages as one observation: the items new since the last.

Each source is read by the oracle of its kind (:class:`~oracles.rss.RssOracle` for a feed,
:class:`~oracles.web.WebPageOracle` for a page). The observation has the shape of the
historical news oracle's — ``items`` holds only what is new — plus what the live path
needs to be checked and to go on:

* ``seen``: per source URL, the keys (16 hex digits of a sha256) of every item it listed.
  An item is new when its key is in no source's ``seen`` of this oracle's last successful
  observation (read from the journal, never kept elsewhere). A feed item's key is its id;
  a page's key is its id and extracted text, so a page counts again when its article
  changes. A source that fails keeps its previous ``seen``: its items are not new again.
* ``errors``: one ``{url, error}`` per failed source; the others' items are kept. Only
  when every source fails does the oracle raise (the runtime records an error).
* ``blobs``: every body stored, error pages included.

A feed or page can claim a publication time after the wake (a clock off, a time zone
wrong). A live source cannot hold news from the future, so such an item keeps the claim
under ``published_claimed`` and has ``published: null``: the journal never shows an
observation dated after its wake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from agentfund.oracles.http import Fetcher
from agentfund.oracles.rss import PARSER, RssOracle
from agentfund.oracles.web import EXTRACTOR, WebPageOracle, all_failed
from fund.canonical import format_ts
from fund.news_sources import FetchOptions, NewsSource


@dataclass(frozen=True, slots=True)
class Source:
    """A feed or page URL and the fetcher that reads it."""

    url: str
    kind: Literal["feed", "page"]
    fetcher: Fetcher


class _Recording:
    """A blob sink that remembers every digest stored through it."""

    def __init__(self, blobs: BlobSink) -> None:
        self.blobs = blobs
        self.stored: list[str] = []

    def put_blob(self, data: bytes) -> str:
        digest = self.blobs.put_blob(data)
        self.stored.append(digest)
        return digest


class LiveNews(Oracle):
    """Read feeds and pages; record the items none of them listed at the last observation."""

    def __init__(self, name: str, sources: Sequence[Source]) -> None:
        if not sources:
            raise ValueError(f"oracle {name!r}: no news sources to read")
        self.name = name
        self.sources = tuple(sources)
        self._readers: list[Oracle] = [
            RssOracle(name, [s.url], s.fetcher) if s.kind == "feed"
            else WebPageOracle(name, [s.url], s.fetcher) for s in self.sources]

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        """Return the new items of every source, what each listed, and the failures."""
        before = previous_seen(recorded, self.name)
        known = {key for keys in before.values() for key in keys}
        sink = _Recording(blobs)
        items: list[dict[str, Any]] = []
        seen: dict[str, list[str]] = {}
        errors: list[dict[str, str]] = []
        for source, reader in zip(self.sources, self._readers, strict=True):
            try:
                listed = reader.observe(at, sink)["items"]
            except Exception as exc:  # noqa: BLE001 - one bad source must not hide the others
                errors.append({"url": source.url, "error": _reason(source.url, exc)})
                seen[source.url] = list(before.get(source.url, ()))
                continue
            keys = [item_key(source.kind, item) for item in listed]
            seen[source.url] = list(dict.fromkeys(keys))
            for key, item in zip(keys, listed, strict=True):
                if key not in known:
                    known.add(key)
                    items.append(_as_of(item, at))
        if len(errors) == len(self.sources):
            raise OracleError(all_failed(errors))
        tools = {"parser": dict(PARSER)} if any(s.kind == "feed" for s in self.sources) else {}
        if any(s.kind == "page" for s in self.sources):
            tools["extractor"] = dict(EXTRACTOR)
        return {"items": items, "errors": errors, "seen": seen,
                "blobs": list(dict.fromkeys(sink.stored)), **tools}


def item_key(kind: str, item: Mapping[str, Any]) -> str:
    """Return the key by which an item is recognised at the next observation."""
    basis = str(item["id"]) if kind == "feed" else f"{item['id']}\x1f{item.get('text', '')}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def previous_seen(recorded: Recorded, name: str) -> dict[str, list[str]]:
    """Return ``seen`` of the oracle's last successful observation (empty if none)."""
    last = recorded.last.get(name)
    seen = last.data.get("seen") if last is not None and last.data else None
    if not isinstance(seen, Mapping):
        return {}
    return {str(url): [str(key) for key in keys] for url, keys in seen.items()
            if isinstance(keys, list)}


def _reason(url: str, exc: Exception) -> str:
    """Say why a source failed (without the ``URL: `` prefix a one-source oracle adds)."""
    if isinstance(exc, OracleError):
        return str(exc).removeprefix(f"{url}: ")
    return f"{type(exc).__name__}: {exc}"


def _as_of(item: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """Return the item as recorded: without the feed's flag, never published after ``at``."""
    recorded = {key: value for key, value in item.items() if key != "new"}
    published = recorded.get("published")
    if isinstance(published, str) and published > format_ts(at):
        recorded["published_claimed"] = published
        recorded["published"] = None
    return recorded


def live_news(name: str, sources: Sequence[NewsSource]) -> LiveNews:
    """Build the oracle over configured sources; those fetched alike share one Fetcher
    (so that its per-host politeness spans them)."""
    fetchers: dict[FetchOptions, Fetcher] = {}
    readers = []
    for source in sources:
        fetcher = fetchers.get(source.fetch)
        if fetcher is None:
            fetcher = fetchers[source.fetch] = Fetcher(**source.fetch.fetcher_kwargs())
        readers.append(Source(source.url, source.kind, fetcher))
    return LiveNews(name, readers)
