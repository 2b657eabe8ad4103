"""Tests of fund.purity: the audit-hook guard that forbids I/O inside handlers."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fund.purity import PurityError, pure


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text("time,price\n0,100\n", encoding="utf-8")
    return path


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A TCP socket listening on 127.0.0.1 (opened outside any pure block)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        yield server.getsockname()
    finally:
        server.close()


def read(path: Path) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def connect(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=5):
        pass


def run_child() -> int:
    return subprocess.run([sys.executable, "-c", "pass"], check=False, timeout=30).returncode


def guard_is_off(path: Path) -> bool:
    return read(path).startswith("time,price")


# --------------------------------------------------------------------------------------
# inside pure(): I/O raises


def test_opening_a_data_file_raises(data_file: Path) -> None:
    # Act / Assert
    with pytest.raises(PurityError, match=r"prices\.csv"), pure():
        read(data_file)


def test_opening_a_file_for_writing_raises(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(PurityError), pure():
        (tmp_path / "out.json").write_text("{}")
    assert not (tmp_path / "out.json").exists()


def test_socket_connection_attempt_raises(listener: tuple[str, int]) -> None:
    # Act / Assert
    with pytest.raises(PurityError), pure():
        connect(listener)


def test_creating_a_socket_raises() -> None:
    # Act / Assert
    with pytest.raises(PurityError, match="socket"), pure():
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_resolving_a_host_raises() -> None:
    # Act / Assert
    with pytest.raises(PurityError), pure():
        socket.getaddrinfo("localhost", 80)


@pytest.mark.parametrize("start", [
    run_child,
    lambda: os.system("true"),
    lambda: subprocess.Popen([sys.executable, "-c", "pass"]).wait(),
], ids=["subprocess.run", "os.system", "Popen"])
def test_starting_a_process_raises(start: Callable[[], object]) -> None:
    # Act / Assert
    with pytest.raises(PurityError), pure():
        start()


def test_removing_a_file_raises(data_file: Path) -> None:
    # Act / Assert
    with pytest.raises(PurityError), pure():
        os.remove(data_file)
    assert data_file.exists()


# --------------------------------------------------------------------------------------
# outside pure(): the same works


def test_outside_the_block_io_works(data_file: Path, listener: tuple[str, int]) -> None:
    # Act / Assert: nothing raises
    assert read(data_file).startswith("time,price")
    connect(listener)
    assert run_child() == 0


def test_pure_computation_is_allowed() -> None:
    # Act
    with pure():
        total = sum(i * i for i in range(1000))
        text = f"{total:,}"

    # Assert
    assert text == "332,833,500"


def test_importing_an_already_imported_module_is_allowed() -> None:
    # Arrange
    import json  # noqa: F401  (make sure it is imported)

    # Act
    with pure():
        import json as again
        decimal = importlib.import_module("decimal")
        encoded = again.dumps({"a": 1})

    # Assert
    assert encoded == '{"a": 1}'
    assert decimal.Decimal("1.5") * 2 == decimal.Decimal("3.0")


def test_importing_a_module_for_the_first_time_is_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a module never imported, with bytecode caching on (Python's default; the
    # test environment may turn it off with PYTHONDONTWRITEBYTECODE)
    name = f"fresh_strategy_helper_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text("ANSWER = 42\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.delitem(sys.modules, name, raising=False)

    # Act: "importing code stays allowed" (fund/purity.py docstring)
    try:
        with pure():
            module = importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)

    # Assert
    assert module.ANSWER == 42


# --------------------------------------------------------------------------------------
# the guard's lifetime


def test_guard_is_off_after_a_clean_block(data_file: Path) -> None:
    # Arrange
    with pure():
        pass

    # Act / Assert
    assert guard_is_off(data_file)


def test_guard_is_off_after_the_block_raised(data_file: Path) -> None:
    # Arrange
    with pytest.raises(ZeroDivisionError), pure():
        _ = 1 / 0

    # Act / Assert
    assert guard_is_off(data_file)


def test_guard_is_off_after_a_purity_error(data_file: Path, listener: tuple[str, int]) -> None:
    # Arrange
    with pytest.raises(PurityError), pure():
        read(data_file)

    # Act / Assert
    assert guard_is_off(data_file)
    connect(listener)


def test_guard_can_be_entered_again(data_file: Path) -> None:
    # Arrange
    with pytest.raises(PurityError), pure():
        read(data_file)

    # Act / Assert
    with pytest.raises(PurityError), pure():
        read(data_file)
    assert guard_is_off(data_file)


def test_a_caught_violation_does_not_switch_the_guard_off(data_file: Path) -> None:
    # Arrange: a handler that swallows the first PurityError and tries again
    caught: list[str] = []
    second_attempt: list[str] = []

    # Act
    with pytest.raises(PurityError), pure():
        try:
            read(data_file)
        except PurityError as exc:
            caught.append(str(exc))
        second_attempt.append(read(data_file))  # must raise as well

    # Assert
    assert len(caught) == 1
    assert second_attempt == []


def test_nested_block_keeps_the_outer_guard_on(data_file: Path) -> None:
    # Arrange
    leaked: list[str] = []

    # Act
    with pytest.raises(PurityError), pure():
        with pure():
            pass
        leaked.append(read(data_file))  # still inside the outer block

    # Assert
    assert leaked == []
    assert guard_is_off(data_file)
