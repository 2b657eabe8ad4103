"""A tiny OpenAI-compatible server on 127.0.0.1 whose answers a test chooses: for the
cases a real model cannot be made to give on purpose (an answer that is not a score, a
request the server refuses). Everything else is tested against llama.cpp's own server.

``with FakeOpenAI(answer) as server:`` serves ``GET /v1/models`` (one model, ``fake``)
and ``POST /v1/chat/completions``, where ``answer(user_message)`` returns the completion's
text, or an int: an HTTP error status to answer with instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Answer = Callable[[str], "str | int"]


class FakeOpenAI:
    """The server; ``url`` is its API base (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": "fake", "object": "model", "owned_by": "tests", "created": 1}]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append(body)
            answer = fake.answer(body["messages"][-1]["content"])
            if isinstance(answer, int):
                self._send(answer, {"error": {"message": "refused by the test"}})
                return
            self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                             "model": "fake", "choices": [{
                                 "index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}]})

    return Handler
