"""``fund doctor CONFIG``: a line per check, ✓ or one line saying what is wrong; exit 0 when
all is good, 1 when anything is not. Each broken part in turn, against the fake exchange."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import run_fund
from tests.integration.fake_exchange import FakeExchange

KEY, SECRET = "doctor-key-5c1e9a3f", "doctor-secret-7d20b4e6"
CONFIG = """
[fund]
name = "doctor"
initial_cash = 10000
quote = "USDT"

[exchange]
id = "binance"
urls = {{api = "{url}"}}

[actors.rebalancer]
cron = "* * * * *"
strategy = "rebalance"
[actors.rebalancer.params.weights]
"BTC/USDT" = 0.5
{extra}
"""


@pytest.fixture
def venue() -> Iterator[FakeExchange]:
    with FakeExchange() as exchange:
        yield exchange


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFUND_API_KEY", KEY)
    monkeypatch.setenv("AGENTFUND_SECRET", SECRET)


def config(tmp_path: Path, venue: FakeExchange, extra: str = "") -> Path:
    path = tmp_path / "fund.toml"
    path.write_text(CONFIG.format(url=venue.url, extra=extra), encoding="utf-8")
    return path


def doctor(cfg: Path, *args: str) -> tuple[int, dict[str, str], str]:
    """Exit code, each check's line by what it checked, and the whole output."""
    result = run_fund("doctor", str(cfg), *args, timeout=120)
    lines = {line[2:].split(":", 1)[0]: line for line in result.stdout.splitlines()
             if line[:1] in "✓✗–"}
    return result.returncode, lines, result.stdout + result.stderr


def test_a_good_live_config_passes_every_check(tmp_path: Path, venue: FakeExchange,
                                               keys: None) -> None:
    code, lines, out = doctor(config(tmp_path, venue), "--live", "--journal",
                              str(tmp_path / "j.db"))

    assert code == 0, out
    assert [lines[k][0] for k in ("config", "journal", "disk", "exchange", "clock", "keys",
                                  "keys accepted")] == ["✓"] * 7, out
    assert out.rstrip().endswith("all good")
    assert KEY not in out and SECRET not in out


def test_an_existing_journal_is_tried_without_an_entry_written(
        tmp_path: Path, venue: FakeExchange, store_url: str) -> None:
    cfg = config(tmp_path, venue)
    assert run_fund("run", str(cfg), "--journal", store_url, "--once").returncode == 0
    from fund.journal import open_journal

    with open_journal(store_url) as store:
        before = [(p, store.count(p)) for p in store.processes()]

    code, lines, out = doctor(cfg, "--journal", store_url)

    assert code == 0, out
    assert "reachable and writable (1 actor stream)" in lines["journal"]
    with open_journal(store_url) as store:
        assert [(p, store.count(p)) for p in store.processes()] == before
        assert store.lease("~doctor") is None


def test_an_unreachable_journal_is_one_problem(tmp_path: Path, venue: FakeExchange) -> None:
    code, lines, out = doctor(config(tmp_path, venue), "--journal",
                              "postgresql+psycopg://fund@127.0.0.1:9/nowhere")

    assert code == 1
    assert lines["journal"].startswith("✗ journal: ") and "\n" not in lines["journal"]
    assert lines["exchange"].startswith("✓")
    assert out.rstrip().endswith("1 problem found")


def test_an_exchange_that_is_down(tmp_path: Path, venue: FakeExchange) -> None:
    venue.fail_next(503, times=20)

    code, lines, _ = doctor(config(tmp_path, venue), "--journal", str(tmp_path / "j.db"))

    assert code == 1
    assert lines["exchange"].startswith("✗ exchange: ")
    assert lines["clock"] == "– clock: the exchange cannot be reached"


def test_a_missing_key_is_named_by_its_variable(tmp_path: Path, venue: FakeExchange,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFUND_API_KEY", KEY)
    monkeypatch.delenv("AGENTFUND_SECRET", raising=False)

    code, lines, out = doctor(config(tmp_path, venue), "--live", "--journal",
                              str(tmp_path / "j.db"))

    assert code == 1
    assert lines["keys"].startswith("✗ keys: ") and "AGENTFUND_SECRET" in lines["keys"]
    assert KEY not in out


def test_a_refused_key_is_never_printed(tmp_path: Path, venue: FakeExchange,
                                        keys: None) -> None:
    venue.refuse_key(KEY)  # binance's 401 echoes the key

    code, lines, out = doctor(config(tmp_path, venue), "--live", "--journal",
                              str(tmp_path / "j.db"))

    assert code == 1
    assert lines["keys"].startswith("✓")
    assert lines["keys accepted"].startswith("✗ keys accepted: the exchange refused")
    assert KEY not in out and SECRET not in out


def test_a_clock_off_the_exchanges(tmp_path: Path) -> None:
    with FakeExchange(skew_ms=5000) as ahead:
        code, lines, _ = doctor(config(tmp_path, ahead), "--journal", str(tmp_path / "j.db"))

    assert code == 1
    assert lines["clock"].startswith("✗ clock: ") and "behind the exchange's" in lines["clock"]


def test_a_bad_config_stops_the_checks_there(tmp_path: Path, venue: FakeExchange) -> None:
    cfg = config(tmp_path, venue)
    cfg.write_text(cfg.read_text().replace("initial_cash", "initial_cahs"))

    code, lines, out = doctor(cfg)

    assert code == 1
    assert list(lines) == ["config"], out
    assert lines["config"].endswith("fund.initial_cash: missing required key")


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()


def test_notify_targets_are_checked_and_sent_a_test(tmp_path: Path, venue: FakeExchange,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HOOK_PORT", str(server.server_address[1]))
    extra = ('[notify]\nurls = ["json://127.0.0.1:{HOOK_PORT}/hook"]\n'
             '[notify.targets.ops]\nurl = "json://127.0.0.1:{OPS_PORT}/ops"\n')
    try:
        code, lines, out = doctor(config(tmp_path, venue, extra), "--send-test", "--journal",
                                  str(tmp_path / "j.db"))
    finally:
        server.shutdown()
        server.server_close()

    assert code == 1, out
    assert lines["notify urls.1"] == "✓ notify urls.1: a test message was sent"
    assert lines["notify ops"].startswith("✗ notify ops: ") and "OPS_PORT" in lines["notify ops"]
    assert len(Receiver.bodies) == 1 and "fund doctor" in Receiver.bodies[0]["message"]
