"""The daemon's live news sources: the ``[daemon.news]`` config section, validated.

```toml
[daemon.news]
feeds = ["https://example.org/rss.xml",
         {url = "https://slow.example.org/atom.xml", read_timeout_s = 30, deadline_s = 60}]
pages = ["https://example.org/some-article"]
user_agent = "my-fund/1.0 (+mailto:me@example.org)"   # fetch options for every source;
read_timeout_s = 10                                    # a source's own table overrides them
deadline_s = 30     # a fetch's whole time: retries, redirects, waits, a server that drips
```

A source is a URL or a table with ``url`` and any fetch option. The options are those
of :class:`oracles.http.Fetcher` (``_s`` marks seconds: ``deadline_s`` is its ``deadline``);
one left unset keeps the Fetcher's default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SourceKind = Literal["feed", "page"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchOptions:
    """How a source is fetched; ``None`` keeps the Fetcher's default."""

    user_agent: str | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    max_bytes: int | None = None
    max_redirects: int | None = None
    retries: int | None = None
    backoff: float | None = None
    min_interval: float | None = None
    deadline: float | None = None

    def fetcher_kwargs(self) -> dict[str, Any]:
        """Return the options that are set, as ``Fetcher(**kwargs)`` takes them."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class NewsSource:
    """One live news source: an RSS/Atom feed or a web page, and how to fetch it."""

    url: str
    kind: SourceKind
    fetch: FetchOptions = FetchOptions()


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _url_or_table(value: Any) -> Any:
    if isinstance(value, str):
        return {"url": value}
    if not isinstance(value, dict):
        raise ValueError(f"{value!r} is neither a URL nor a table with url = \"…\"")
    return value


def _header_text(value: str) -> str:
    if not re.fullmatch(r"[^\x00-\x1f\x7f]+", value):
        raise ValueError(f"{value!r} is not a one-line header value")
    return value


class _Fetch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user_agent: Annotated[str, AfterValidator(_header_text)] | None = None
    connect_timeout_s: float | None = Field(default=None, gt=0)
    read_timeout_s: float | None = Field(default=None, gt=0)
    max_bytes: int | None = Field(default=None, ge=1)
    max_redirects: int | None = Field(default=None, ge=0)
    retries: int | None = Field(default=None, ge=0, le=10)
    backoff_s: float | None = Field(default=None, ge=0)
    min_interval_s: float | None = Field(default=None, ge=0)
    deadline_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def options(self, defaults: _Fetch | None = None) -> FetchOptions:
        """Return these options, each unset one taken from ``defaults``."""
        def pick(key: str) -> Any:
            own = getattr(self, key)
            return own if own is not None or defaults is None else getattr(defaults, key)

        return FetchOptions(user_agent=pick("user_agent"),
                            connect_timeout=pick("connect_timeout_s"),
                            read_timeout=pick("read_timeout_s"), max_bytes=pick("max_bytes"),
                            max_redirects=pick("max_redirects"), retries=pick("retries"),
                            backoff=pick("backoff_s"), min_interval=pick("min_interval_s"),
                            deadline=pick("deadline_s"))


class SourceSection(_Fetch):
    """One entry of ``feeds`` or ``pages``."""

    url: Annotated[str, AfterValidator(_http_url)]


Source = Annotated[SourceSection, BeforeValidator(_url_or_table)]


class NewsSection(_Fetch):
    """``[daemon.news]``: the feeds and pages, and fetch options for all of them."""

    feeds: list[Source] = []
    pages: list[Source] = []

    @model_validator(mode="after")
    def _sources(self) -> NewsSection:
        urls = [source.url for source in (*self.feeds, *self.pages)]
        if not urls:
            raise ValueError("list at least one source in feeds or pages")
        repeated = sorted({url for url in urls if urls.count(url) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]} is listed more than once")
        return self

    def sources(self) -> tuple[NewsSource, ...]:
        """Return the feeds, then the pages, each with its merged fetch options."""
        kinds: list[tuple[SourceKind, list[SourceSection]]] = [
            ("feed", self.feeds), ("page", self.pages)]
        return tuple(NewsSource(url=source.url, kind=kind, fetch=source.options(self))
                     for kind, sources in kinds for source in sources)
