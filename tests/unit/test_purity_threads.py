"""The purity guard stops the handler's thread only, not the process's other threads.

A Dask worker (or the daemon's thread pool) runs other threads while a handler runs; their
own I/O must not be refused on the handler's account.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fund.purity import PurityError, pure


def test_another_threads_io_is_allowed_while_a_handler_runs(tmp_path: Path) -> None:
    # Arrange
    data = tmp_path / "monitor.txt"
    data.write_text("rss 1\n", encoding="utf-8")
    inside, finished = threading.Event(), threading.Event()
    seen: list[object] = []

    def monitor() -> None:
        inside.wait(5)
        try:
            seen.append(data.read_text(encoding="utf-8"))
        except PurityError as exc:
            seen.append(exc)
        finished.set()

    thread = threading.Thread(target=monitor)
    thread.start()
    # Act: the other thread reads while this one is inside pure()
    with pure():
        inside.set()
        assert finished.wait(5)
    thread.join(5)
    # Assert
    assert seen == ["rss 1\n"]


def test_the_handlers_own_thread_is_still_refused(tmp_path: Path) -> None:
    # Arrange
    data = tmp_path / "prices.csv"
    data.write_text("x", encoding="utf-8")
    errors: list[BaseException] = []

    def handler() -> None:
        try:
            with pure():
                data.read_text(encoding="utf-8")
        except PurityError as exc:
            errors.append(exc)

    # Act
    thread = threading.Thread(target=handler)
    thread.start()
    thread.join(5)
    # Assert
    assert len(errors) == 1
    assert data.read_text(encoding="utf-8") == "x"  # this thread was never guarded


def test_nested_blocks_in_one_thread_unwind_to_unguarded(tmp_path: Path) -> None:
    # Arrange
    data = tmp_path / "prices.csv"
    data.write_text("x", encoding="utf-8")
    # Act / Assert
    with pure(), pure(), pytest.raises(PurityError):
        data.read_text(encoding="utf-8")
    assert data.read_text(encoding="utf-8") == "x"
