"""Read news web pages: fetch each URL, keep its raw body, extract the article with trafilatura.

Each page that yields an article becomes one item of the common news format; a page that
fails (fetch, content type, encoding, extraction) becomes an entry of ``data["errors"]``.
Only when every page fails does the oracle raise, so the runtime records an error.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from trafilatura.settings import set_date_params

from agentfund.oracles.base import NOTHING_RECORDED, BlobSink, Oracle, OracleError, Recorded
from agentfund.oracles.http import Fetcher, FetchError
from fund.canonical import format_ts

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
EXTRACTOR = {"name": "trafilatura", "version": trafilatura.__version__}
_SNIFF_BYTES = 8192
_META_CHARSET = re.compile(rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))


class PageError(Exception):
    """A page was fetched but gave no article (not HTML, bad encoding, no text)."""


class WebPageOracle(Oracle):
    """Fetch news pages and extract each one's title, main text and publication date."""

    def __init__(self, name: str, urls: Sequence[str], fetcher: Fetcher) -> None:
        if not urls:
            raise ValueError(f"oracle {name!r}: no URLs to read")
        self.name = name
        self.urls = tuple(urls)
        self.fetcher = fetcher

    def observe(self, at: datetime, blobs: BlobSink,
                recorded: Recorded = NOTHING_RECORDED) -> dict[str, Any]:
        """Return the pages' articles as items, and why the other pages failed."""
        items: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        stored: list[str] = []
        for url in self.urls:
            try:
                items.append(self._page(url, at, blobs, stored))
            except FetchError as exc:
                if exc.body:
                    stored.append(blobs.put_blob(exc.body))
                errors.append({"url": url, "error": exc.reason})
            except PageError as exc:
                errors.append({"url": url, "error": str(exc)})
        if not items:
            raise OracleError(all_failed(errors))
        return {"items": items, "errors": errors, "blobs": list(dict.fromkeys(stored)),
                "extractor": dict(EXTRACTOR)}

    def _page(self, url: str, at: datetime, blobs: BlobSink, stored: list[str]) -> dict[str, Any]:
        """Fetch one page, store its body and turn it into an item; raise PageError."""
        result = self.fetcher.fetch(url)
        digest = blobs.put_blob(result.body)
        stored.append(digest)
        if result.content_type not in HTML_TYPES:
            raise PageError(f"not HTML (content-type {result.content_type or 'missing'})")
        article = extract_article(decode_html(result.body, result.charset), result.final_url, at)
        return {
            "id": hashlib.sha256(result.final_url.encode()).hexdigest(),
            "title": article["title"], "text": article["text"], "link": result.final_url,
            "published": article["published"],
            "source": (urlsplit(result.final_url).hostname or "").lower(),
            "url": url, "status": result.status, "blob": digest, "bytes": len(result.body),
            "fetched_ms": round(result.elapsed_s * 1000),
        }


def all_failed(errors: Sequence[Mapping[str, str]]) -> str:
    """Summarise per-source errors when every source failed (the first reason leads)."""
    if not errors:
        return "nothing to read"
    first = errors[0]
    more = f" (and {len(errors) - 1} more failed)" if len(errors) > 1 else ""
    return f"{first['url']}: {first['error']}{more}"


def decode_html(body: bytes, header_charset: str | None) -> str:
    """Decode a page by its BOM, header charset, ``<meta>`` charset or UTF-8; never replace."""
    for bom, bom_charset in _BOMS:
        if body.startswith(bom):
            return _decode(body[len(bom):], bom_charset)
    return _decode(body, header_charset or sniff_charset(body) or "utf-8")


def sniff_charset(body: bytes) -> str | None:
    """Return the charset a page declares in its first bytes (``<meta>`` or XML), if any."""
    head = body[:_SNIFF_BYTES]
    found = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return found.group(1).decode("ascii") if found else None


def _decode(body: bytes, charset: str) -> str:
    try:
        codec = codecs.lookup(charset)
        return body.decode(codec.name)
    except LookupError:
        raise PageError(f"bad encoding: unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        raise PageError(f"bad encoding: {exc.reason} for {exc.encoding} "
                        f"at byte {exc.start}") from None


def extract_article(html: str, url: str, at: datetime) -> dict[str, Any]:
    """Return the main text, title and publication time of a page; raise PageError."""
    date_params = {**set_date_params(False), "outputformat": "%Y-%m-%dT%H:%M:%S%z",
                   "max_date": (at + timedelta(days=1)).strftime("%Y-%m-%d")}
    try:
        document = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, favor_precision=True,
            date_extraction_params=date_params)
    except Exception as exc:  # noqa: BLE001 - a broken page must not break the other pages
        raise PageError(f"extraction failed ({type(exc).__name__}: {exc})") from None
    fields: Mapping[str, Any] = {}
    if isinstance(document, Mapping):
        fields = document
    elif document is not None:
        fields = document.as_dict()
    text = str(fields.get("text") or "").strip()
    if not text:
        raise PageError("no article text")
    return {"title": str(fields.get("title") or "").strip(), "text": text,
            "published": parse_page_date(fields.get("date"))}


def parse_page_date(value: object) -> str | None:
    """Return a page date (ISO text; UTC when it names no zone) as a canonical timestamp."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_ts(moment)
