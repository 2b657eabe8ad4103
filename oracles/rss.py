"""Read RSS and Atom feeds: fetch each feed, keep its raw body, list its entries as items.

Which items are new is derived from the journal, not kept here: an item is new when its
id was not among the items of this oracle's previous observation (``recorded.last``).
After a failed observation (no data) every item counts as new again.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from agentfund.oracles.http import Fetcher, FetchError, FetchResult
from agentfund.oracles.web import all_failed
from fund.canonical import format_ts

PARSER = {"name": "feedparser", "version": str(feedparser.__version__)}
_SPACE = re.compile(r"\s+")


class FeedError(Exception):
    """A feed was fetched but could not be parsed."""


class RssOracle(Oracle):
    """Fetch feeds and list their entries, flagging those not seen at the last wake."""

    def __init__(self, name: str, feed_urls: Sequence[str], fetcher: Fetcher) -> None:
        if not feed_urls:
            raise ValueError(f"oracle {name!r}: no feed URLs to read")
        self.name = name
        self.feed_urls = tuple(feed_urls)
        self.fetcher = fetcher

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        """Return every feed's entries as items (with ``new`` flags) and the feeds' errors."""
        seen = previous_ids(recorded, self.name)
        items: dict[str, dict[str, Any]] = {}
        errors: list[dict[str, str]] = []
        stored: list[str] = []
        feeds = 0
        for url in self.feed_urls:
            try:
                result = self.fetcher.fetch(url)
                stored.append(blobs.put_blob(result.body))
                entries = parse_feed(result)
            except FetchError as exc:
                if exc.body:
                    stored.append(blobs.put_blob(exc.body))
                errors.append({"url": url, "error": exc.reason})
                continue
            except FeedError as exc:
                errors.append({"url": url, "error": str(exc)})
                continue
            feeds += 1
            for item in entries:
                item["new"] = item["id"] not in seen
                items.setdefault(item["id"], item)  # one item per id, the first feed's
        if not feeds:
            raise OracleError(all_failed(errors))
        return {"items": list(items.values()), "errors": errors,
                "blobs": list(dict.fromkeys(stored)), "parser": dict(PARSER)}


def previous_ids(recorded: Recorded, name: str) -> frozenset[str]:
    """Return the item ids of the oracle's previous observation (empty if none or failed)."""
    last = recorded.last.get(name)
    if last is None or not last.data:
        return frozenset()
    return frozenset(str(item["id"]) for item in last.data.get("items", ())
                     if isinstance(item, Mapping) and "id" in item)


def parse_feed(result: FetchResult) -> list[dict[str, Any]]:
    """Parse a fetched feed into items of the common news format; raise FeedError."""
    content_type = result.content_type or "application/xml"
    if result.charset:
        content_type += f"; charset={result.charset}"
    # a file object, never bytes: feedparser would try bytes as a local file name first
    parsed = feedparser.parse(io.BytesIO(result.body), response_headers={
        "content-type": content_type, "content-location": result.final_url})
    if parsed.get("bozo") and not parsed.get("entries"):
        problem = parsed.get("bozo_exception")
        raise FeedError(f"malformed feed ({type(problem).__name__}: {problem})"
                        if problem else "malformed feed")
    feed = parsed.get("feed", {})
    source = str(feed.get("title") or urlsplit(result.final_url).hostname or "")
    return [_item(entry, source, result.url) for entry in parsed.get("entries", [])]


def _item(entry: Mapping[str, Any], source: str, feed_url: str) -> dict[str, Any]:
    title = str(entry.get("title") or "")
    detail = entry.get("title_detail") or {}
    title = strip_tags(title) if "html" in str(detail.get("type", "")) else _clean(title)
    link = str(entry.get("link") or "")
    entry_id = str(entry.get("id") or link
                   or hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest())
    return {"id": entry_id, "title": title, "text": strip_tags(str(entry.get("summary") or "")),
            "link": link, "published": _published(entry), "source": source, "feed": feed_url}


def _published(entry: Mapping[str, Any]) -> str | None:
    """Return an entry's publication (else update) time as a canonical UTC timestamp."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:  # feedparser gives UTC time tuples
        return format_ts(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class _TextOnly(HTMLParser):
    """Collect the text of an HTML fragment, skipping scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_tags(fragment: str) -> str:
    """Return the text of an HTML fragment, tags removed and whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return _clean("".join(parser.parts))


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()
