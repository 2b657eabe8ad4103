"""Sending alerts without ever slowing a wake: a bounded queue, one sender thread,
timeouts, retries with backoff, and a rate limit per event and actor that turns a storm
into one message and then one count.

:meth:`Notifier.publish` only puts a notice on the queue (a full queue drops it, logged).
The sender thread sends the first notice of an event (for an actor) at once to every
target that takes that event; the same event again within ``rate_limit_s`` is counted, and
when that time is up one message says how many more came (with the latest one's text).
Each send is recorded — target name, what was sent, outcome — through ``record`` (the
fund's alerts stream) and logged; a target's URL is never shown anywhere.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from fund import secrets
from fund.alerts.events import Notice
from fund.alerts.settings import NotifySettings, Target
from fund.logs import json_log, say
from fund.messages import Alert

Send = Callable[[str, str, str], str | None]
"""How one message goes to one resolved URL: (url, title, body) -> None, or the error."""
_STOP = object()
POLL_S = 0.2  # how often the sender looks for counted storms whose time is up


@dataclass(slots=True)
class _Window:
    opened: float  # monotonic time of the last message sent for this event
    count: int = 0  # events since then, not sent yet
    last: Notice | None = None


class Notifier:
    """Sends notices to the targets that take them, from its own thread."""

    def __init__(self, settings: NotifySettings, *, record: Callable[[Alert], None],
                 send: Send | None = None, urls: dict[str, str] | None = None) -> None:
        """``record``: journals each outcome (called from the sender thread); ``send``:
        apprise by default; ``urls``: each target's resolved URL (default: resolved from
        the environment now — a NotifyError names a missing variable)."""
        self.settings = settings
        self.record = record
        self.urls = urls if urls is not None else {t.name: t.resolve() for t in settings.targets}
        self.send = send or ApprisePost(settings.timeout_s)
        self.queue: queue.Queue[object] = queue.Queue(maxsize=settings.queue)
        self.dropped = 0
        self.sent = 0
        self.failed = 0
        self._windows: dict[tuple[str, str | None], _Window] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def publish(self, notice: Notice) -> None:
        """Queue a notice for sending; never blocks (a full queue drops it, logged)."""
        if not any(notice.event in t.events for t in self.settings.targets):
            return
        try:
            self.queue.put_nowait(notice)
        except queue.Full:
            self.dropped += 1
            json_log("alert-dropped", alert=notice.event, actor=notice.actor,
                     queued=self.queue.qsize())

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued and the counts of storms still counting, then stop (waiting
        at most ``timeout`` seconds: the thread never keeps the process alive)."""
        if not self._thread.is_alive():
            return
        self._stopping.set()
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    # --- the sender thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=POLL_S)
            except queue.Empty:
                item = None
            now = time.monotonic()
            if item is _STOP:
                self._flush(now, force=True)
                return
            try:
                if isinstance(item, Notice):
                    self._admit(item, now)
                self._flush(now)
            except Exception as exc:  # noqa: BLE001 - the sender thread never dies
                json_log("alert-failed", error=say(exc))

    def _admit(self, notice: Notice, now: float) -> None:
        key = (notice.event, notice.actor)
        window = self._windows.get(key)
        if window is None or now - window.opened >= self.settings.rate_limit_s:
            self._windows[key] = _Window(opened=now)
            self._deliver(notice, 1)
        else:
            window.count += 1
            window.last = notice

    def _flush(self, now: float, *, force: bool = False) -> None:
        """Send one message for each storm whose time is up (all of them, when stopping)."""
        for window in self._windows.values():
            if window.count and window.last is not None and \
                    (force or now - window.opened >= self.settings.rate_limit_s):
                late = window.last
                title = f"{late.title} — and {window.count} more like it in " \
                        f"{max(1, round(now - window.opened))} s"
                self._deliver(replace(late, title=title, body=f"The latest: {late.body}"),
                              window.count)
                window.opened, window.count, window.last = now, 0, None

    def _deliver(self, notice: Notice, count: int) -> None:
        for target in self.settings.targets:
            if notice.event in target.events:
                self._send(target, notice, count)

    def _send(self, target: Target, notice: Notice, count: int) -> None:
        error: str | None = None
        attempts = 0
        wait = self.settings.backoff_s
        for attempts in range(1, self.settings.retries + 2):
            error = self._attempt(target, notice)
            if error is None or self._stopping.is_set():
                break
            if attempts <= self.settings.retries and self._stopping.wait(wait):
                break  # stopping: no more waiting on this target (a wake never waits here)
            wait *= 2
        outcome = "sent" if error is None else "failed"
        if error is None:
            self.sent += 1
        else:
            self.failed += 1
        alert = Alert(event=notice.event, target=target.name, actor=notice.actor,
                      title=secrets.redact(notice.title), body=secrets.redact(notice.body),
                      count=count, outcome=outcome, attempts=attempts,
                      error=secrets.redact(error)[:300] if error else None)
        json_log("alert", alert=notice.event, target=target.name, actor=notice.actor,
                 count=count, outcome=outcome, attempts=attempts,
                 **({"error": alert.error} if error else {}))
        try:
            self.record(alert)
        except Exception as exc:  # noqa: BLE001 - an unrecorded alert is logged, no more
            json_log("alert-unrecorded", alert=notice.event, target=target.name,
                     error=say(exc))

    def _attempt(self, target: Target, notice: Notice) -> str | None:
        try:
            return self.send(self.urls[target.name], notice.title, notice.body)
        except Exception as exc:  # noqa: BLE001 - a failed send is an outcome
            return say(exc)


class ApprisePost:
    """Send through apprise, with the connect and read timeouts set on the URL; apprise's
    own log is kept off stderr (it may show a URL) and read for the failure's reason."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._heard = _heard()

    def __call__(self, url: str, title: str, body: str) -> str | None:
        import apprise

        sender = apprise.Apprise()
        if not sender.add(self._timed(url)):
            return "apprise does not accept this URL"
        self._heard.reset()
        if sender.notify(body=body, title=title):
            return None
        return secrets.redact(self._heard.last or "the target did not accept the message")

    def _timed(self, url: str) -> str:
        if "cto=" in url or "rto=" in url:
            return url
        return f"{url}{'&' if '?' in url else '?'}cto={self.timeout_s:g}&rto={self.timeout_s:g}"


_HEARD: list[_Heard] = []


def _heard() -> _Heard:
    """The one handler on apprise's logger (installed once per process)."""
    if not _HEARD:
        _HEARD.append(_Heard())
        logger = logging.getLogger("apprise")
        logger.addHandler(_HEARD[0])
        logger.propagate = False
    return _HEARD[0]


class _Heard(logging.Handler):
    """The last warning apprise logged in this thread (why a send failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def reset(self) -> None:
        self._local.last = None

    @property
    def last(self) -> str | None:
        return getattr(self._local, "last", None)

    def emit(self, record: logging.LogRecord) -> None:
        self._local.last = record.getMessage().splitlines()[0][:300] if record.msg else None
