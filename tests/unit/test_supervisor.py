"""The supervisor's isolation of funds, without a scheduler: a fund that cannot open, a job
that raises, a stop that fails never stop the other funds."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import Any

import pytest

from fund.errors import RunFailed
from fund.journal import JournalError
from fund.logs import FUND, json_log
from fund.supervisor import Fund, Supervisor


class FakeDaemon:
    def __init__(self, name: str, *, stop_fails: bool = False, once_fails: bool = False) -> None:
        self.name, self.stop_fails, self.once_fails = name, stop_fails, once_fails
        self.stopped = self.woke = False

    def stop(self) -> None:
        self.stopped = True
        if self.stop_fails:
            raise JournalError("the journal went away")

    def run_once(self) -> None:
        self.woke = True
        if self.once_fails:
            raise RunFailed("actor a: held")


def fund(name: str, daemon: FakeDaemon | None = None, error: Exception | None = None) -> Fund:
    def opener(_: ExitStack) -> Any:
        if error is not None:
            raise error
        return daemon

    return Fund(name=name, actors=1, opener=opener)


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_a_fund_that_cannot_open_is_logged_and_the_others_open(
        capsys: pytest.CaptureFixture[str]) -> None:
    good = FakeDaemon("good")
    supervisor = Supervisor([fund("bad", error=JournalError("db down")), fund("good", good)])

    supervisor.open_all()

    assert [f.daemon for f in supervisor.funds] == [None, good]
    events = logged(capsys)
    assert events == [{"event": "fund-unavailable", "fund": "bad",
                       "error": "JournalError: db down", "retry_s": 30}]


def test_when_no_fund_opens_the_first_error_is_raised() -> None:
    supervisor = Supervisor([fund("a", error=JournalError("a down")),
                             fund("b", error=JournalError("b down"))])

    with pytest.raises(JournalError, match="a down"):
        supervisor.open_all()


def test_one_fund_fails_as_before() -> None:
    with pytest.raises(JournalError, match="down"):
        Supervisor([fund("only", error=JournalError("down"))]).open_all()


def test_a_job_that_raises_is_logged_with_its_fund(capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = Supervisor([fund("a", FakeDaemon("a")), fund("b", FakeDaemon("b"))])

    def tick(actor: str) -> None:
        json_log("wake", actor=actor)
        raise RuntimeError("boom")

    supervisor.guard(supervisor.funds[1], tick)("x")

    assert logged(capsys) == [{"event": "wake", "fund": "b", "actor": "x"},
                              {"event": "job-failed", "fund": "b", "job": "tick",
                               "error": "RuntimeError: boom"}]
    assert FUND.get() is None


def test_every_fund_stops_even_when_one_stop_fails(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = FakeDaemon("a", stop_fails=True), FakeDaemon("b")
    supervisor = Supervisor([fund("a", first), fund("b", second)])
    supervisor.open_all()

    supervisor.stop()

    assert first.stopped and second.stopped
    assert logged(capsys) == [{"event": "stop-failed", "fund": "a",
                               "error": "JournalError: the journal went away"}]


def test_once_wakes_every_fund_and_names_those_that_failed() -> None:
    woke = FakeDaemon("c")
    supervisor = Supervisor([fund("a", error=JournalError("db down")),
                             fund("b", FakeDaemon("b", once_fails=True)), fund("c", woke)])

    with pytest.raises(RunFailed) as failed:
        supervisor.run_once()

    assert str(failed.value) == ("fund a: JournalError: db down; fund b: actor a: held")
    assert woke.woke and all(f.daemon is None for f in supervisor.funds)
