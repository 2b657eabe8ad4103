"""A sentiment scorer that asks a server speaking the OpenAI chat API (llama.cpp's server,
Ollama, vLLM), on this machine unless told otherwise.

Each text is one ``POST {url}/chat/completions``, at most ``concurrency`` at a time; the
request body is recorded as the prompt and the response body, byte for byte, as the
completion. A refused connection, a timeout or a 5xx answer is retried (``retries``,
doubling ``backoff_s``); when that still fails the server is down, and the whole
observation is an error (the fund holds). A 4xx answer is an error for that text only.
Before scoring, ``GET {url}/models`` says which model the server serves: the identity
pins it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator

from agentfund.oracles.base import OracleError
from agentfund.oracles.llm import (
    SCORE_GRAMMAR,
    SCORE_SCHEMA,
    Answer,
    LLMOptions,
    ModelScorer,
    Structured,
    identity_detail,
)
from agentfund.oracles.scoring import ScorerIdentity
from fund.canonical import dumps

_SERVED_KEYS = ("id", "owned_by", "root", "parent", "digest")  # not "created": it can vary


class OpenAIOptions(LLMOptions):
    """``{ kind = "openai", url = "http://127.0.0.1:8080/v1", model = "…" }``."""

    kind: Literal["openai"] = "openai"
    url: str = Field("http://127.0.0.1:8080/v1", description="the API's base URL")
    model: str = Field(description="the model to ask for")
    allow_remote: bool = Field(False, description="allow a server not on this machine")
    api_key_env: str | None = Field(None, description="environment variable holding a key")
    structured: Structured = Field("json_schema", description="how the answer is constrained")
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    retries: int = Field(2, ge=0, le=10, description="retries of a failed request")
    backoff_s: float = Field(0.5, ge=0, le=60, description="first wait before a retry")
    connect_timeout_s: float = Field(5.0, gt=0, description="seconds to connect")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    def local(self) -> bool:
        """Whether the URL names this machine (a loopback address or ``localhost``)."""
        host = urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def _body(options: OpenAIOptions, text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": options.model, "messages": options.messages(text),
                            **options.decoding()}
    if options.structured == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "sentiment", "strict": True, "schema": SCORE_SCHEMA}}
    elif options.structured == "json_object":  # llama-cpp-python's server, older servers
        body["response_format"] = {"type": "json_object", "schema": SCORE_SCHEMA}
    elif options.structured == "grammar":  # llama.cpp's own extension
        body["grammar"] = SCORE_GRAMMAR
    return body


class OpenAIScorer(ModelScorer):
    """Scores through ``POST /chat/completions`` of an OpenAI-compatible server."""

    kind = "openai"
    options: OpenAIOptions

    def __init__(self, options: OpenAIOptions) -> None:
        if not options.local() and not options.allow_remote:
            raise OracleError(f"scorer.url: {options.url} is not on this machine (set "
                              "scorer.allow_remote = true to send the texts there)")
        headers = {"content-type": "application/json"}
        if options.api_key_env:
            key = os.environ.get(options.api_key_env)
            if not key:
                raise OracleError(f"scorer.api_key_env: ${options.api_key_env} is not set")
            headers["authorization"] = f"Bearer {key}"
        self.options = options
        # a local server is reached directly, never through a proxy named in the environment
        self._client = httpx.Client(headers=headers, trust_env=not options.local(),
                                    timeout=httpx.Timeout(options.timeout_s,
                                                          connect=options.connect_timeout_s))
        self._identity: ScorerIdentity | None = None

    @property
    def identity(self) -> ScorerIdentity:  # type: ignore[override]
        """The identity last resolved (asking the server the first time)."""
        return self._identity or self.current_identity()

    def pinned(self) -> dict[str, Any]:
        """The model asked for, the prompt's sha256, the decoding and the answer's form."""
        return {"model": self.options.model, "prompt": self.options.prompt_sha256(),
                "decoding": self.options.decoding(), "structured": self.options.structured}

    def current_identity(self) -> ScorerIdentity:
        """Ask the server which model it serves; OracleError when it cannot say."""
        answer = self._send("GET", "/models", None)
        try:
            listed = json.loads(answer.content)["data"]
            served = [{k: m[k] for k in _SERVED_KEYS if k in m} for m in listed]
        except (ValueError, KeyError, TypeError):
            raise OracleError(f"{self.options.url}/models: not a list of models") from None
        chosen = [m for m in served if m.get("id") == self.options.model]
        if not chosen and len(served) == 1:
            chosen = served  # a server of one model answers whatever name it is asked for
        if not chosen:
            names = ", ".join(str(m.get("id")) for m in served) or "none"
            raise OracleError(f"{self.options.url} does not serve model "
                              f"{self.options.model!r} (it serves: {names})")
        identity = ScorerIdentity(self.kind, "v1", identity_detail(
            {**self.pinned(), "served": chosen[0]}))
        self._identity = identity
        return identity

    def request(self, text: str) -> bytes:
        """The request body (canonical JSON), exactly as sent."""
        return dumps(_body(self.options, text)).encode()

    def complete(self, requests: Sequence[bytes]) -> list[Answer]:
        """Post each request, ``concurrency`` at a time."""
        if not requests:
            return []
        workers = min(self.options.concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            return list(pool.map(self._complete, requests))

    def _complete(self, body: bytes) -> Answer:
        response = self._send("POST", "/chat/completions", body)
        if response.status_code >= 400:
            return Answer(response.content, f"HTTP {response.status_code}: "
                                            f"{response.text[:120]}")
        return Answer(response.content)

    def content(self, completion: bytes) -> str:
        """``choices[0].message.content`` of a response body."""
        try:
            content = json.loads(completion)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ValueError(f"not a chat completion: {completion[:80]!r}") from None
        if not isinstance(content, str):
            raise ValueError("the chat completion has no text content")
        return content

    def _send(self, method: str, path: str, body: bytes | None) -> httpx.Response:
        """One request, retried on a refused connection, a timeout or a 5xx answer;
        OracleError (the server is down) when the retries are spent."""
        url = self.options.url + path
        wait, reason = self.options.backoff_s, ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(wait)
                wait *= 2
            try:
                response = self._client.request(method, url, content=body)
            except httpx.HTTPError as exc:
                reason = _reason(exc)
                continue
            if response.status_code < 500:
                return response
            reason = f"HTTP {response.status_code}"
        raise OracleError(f"{url}: {reason} (after {self.options.retries + 1} attempts)")


def _reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__
