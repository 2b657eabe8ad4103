"""Large models on the fund's own machine, for real: a tiny GGUF model written by the test
(tests/fixtures/tiny_gguf.py), run in-process by llama-cpp-python in a backtest and served
by llama.cpp's server (``python -m llama_cpp.server``) to the daemon's sentiment fund.

Its scores are noise; what is proved is the path: every call's prompt and completion are
blobs of the journal, the scores follow from the completions, ``fund verify`` replays them
and checks the identity, ``--rescore`` runs the model again (100 % agreement for a greedy
model on one machine), and an altered completion fails verify at its entry.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentfund.oracles.llm import DEFAULT_PROMPT, parse_score
from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import EXAMPLES, run_fund
from tests.fixtures.tamper import forge, replace_in_blob, tampering
from tests.fixtures.tiny_gguf import write_tiny_llama
from tests.integration.fake_exchange import FakeExchange
from tests.integration.test_daemon_news import HEADLINES
from tests.integration.test_llm_openai import blob, feed, run_once, table, venue, wake

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install "
                                        "'agentfund[llama]' (make test installs it)")
pytest.importorskip("gguf", reason="gguf is not installed: pip install 'agentfund[llama]'")

__all__ = ["feed", "venue"]  # the fixtures, used here by name

CONFIG = EXAMPLES / "sentiment.toml"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, written once per session."""
    return write_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def llama_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server (llama-cpp-python's) serving the tiny model on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with log.open("wb") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
            stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, url, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path,
                   seconds: float = 120) -> None:
    due = time.monotonic() + seconds
    while time.monotonic() < due:
        if process.poll() is not None:
            error = log.read_text(errors="replace")
            raise RuntimeError(f"llama.cpp server exited: {error[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama.cpp server not up within {seconds} s")


def backtest(out: Path, scorer: str) -> dict[str, Any]:
    """The sentiment example over one day of headlines, scored by ``scorer``."""
    result = run_fund("backtest", str(CONFIG), "--out", str(out), "--json", "--no-report",
                      "--start", "2022-01-17", "--end", "2022-01-17",
                      "--set", f"actors.mentions.params.scorer={scorer}")
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def sentiments(db: str) -> list[tuple[int, dict[str, Any]]]:
    with open_journal(db) as store:
        return [(entry.seq, loads(entry.payload)) for entry in store.read("mentions")
                if entry.kind == "Observation" and '"oracle":"sentiment"' in entry.payload]


def check_record(db: str, data: dict[str, Any]) -> int:
    """Every call's prompt asks about its text and its score is its completion's; the
    figures are the scored hits'. Returns the calls checked."""
    for call in data["calls"]:
        prompt = json.loads(blob(db, call["prompt"]))
        assert prompt["messages"][-1]["content"] == DEFAULT_PROMPT.replace("{text}",
                                                                          call["text"])
        completion = blob(db, call["completion"]).decode()
        assert call["score"] == parse_score(completion), completion
    scores = {call["text"]: call["score"] for call in data["calls"]}
    for figures in data["keywords"].values():
        assert [hit["score"] for hit in figures["hits"]] == \
            [scores[hit["sentence"]] for hit in figures["hits"]]
        assert figures["score_sum"] == round(sum(h["score"] for h in figures["hits"]), 4)
    return len(data["calls"])


@pytest.mark.slow
def test_a_backtest_with_the_in_process_model_records_every_call_and_verifies(
        tiny_model: Path, tmp_path: Path) -> None:
    scorer = table(kind="llama", model=str(tiny_model), n_ctx=2048, cache=False)

    first = backtest(tmp_path / "one", scorer)
    second = backtest(tmp_path / "two", scorer)
    verified = run_fund("verify", first["journal"])
    rescored = run_fund("verify", first["journal"], "--rescore")

    assert first["head_hash"] == second["head_hash"]  # greedy, one machine: the same bytes
    recorded = [data for _, p in sentiments(first["journal"])
                if (data := p.get("data")) and "calls" in data]  # quiet wakes call no model
    assert sum(check_record(first["journal"], data) for data in recorded) > 5
    identity = recorded[0]["scorer"]
    assert identity["name"] == "llama"
    detail = json.loads(identity["detail"])
    assert detail["model"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert detail["decoding"] == {"max_tokens": 24, "seed": 1, "temperature": 0.0}
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert rescored.returncode == 0, rescored.stdout + rescored.stderr
    assert "scores agree (100.0 %)" in rescored.stdout


@pytest.mark.slow
def test_a_model_file_changed_after_the_run_fails_verify(tiny_model: Path,
                                                         tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(tiny_model.read_bytes())
    summary = backtest(tmp_path / "run", table(kind="llama", model=str(model), n_ctx=2048))
    write_tiny_llama(model, seed=8)  # other weights at the same path

    verified = run_fund("verify", summary["journal"])

    assert verified.returncode == 1
    assert "scored with model \"" in verified.stderr
    assert "but the configured scorer has" in verified.stderr


@pytest.mark.slow
def test_a_truncated_model_file_is_refused_at_start_in_one_line(tiny_model: Path,
                                                                tmp_path: Path) -> None:
    model = tmp_path / "cut.gguf"
    model.write_bytes(tiny_model.read_bytes()[:-5000])

    result = run_fund("backtest", str(CONFIG), "--out", str(tmp_path / "run"),
                      "--start", "2022-01-17", "--end", "2022-01-17",
                      "--set", f"actors.mentions.params.scorer="
                               f"{table(kind='llama', model=str(model))}")

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"scorer.model: {model}: a damaged GGUF file" in result.stderr


@pytest.mark.slow
def test_the_daemon_scores_through_the_llama_cpp_server_and_verify_replays_it(
        llama_server: str, venue: FakeExchange, feed: str, store_url: str) -> None:
    scorer = table(kind="openai", url=llama_server, model="tiny", structured="grammar",
                   retries=0)

    code, stderr = run_once(store_url, venue, feed, scorer)
    verified = run_fund("verify", store_url)
    rescored = run_fund("verify", store_url, "--rescore")

    assert code == 0, stderr
    seen = wake(store_url)
    data = seen["sentiment"]["data"]
    assert [call["text"] for call in data["calls"]] == [h["title"] for h in HEADLINES[:2]]
    for call in data["calls"]:
        answer = json.loads(blob(store_url, call["completion"]))
        assert call["score"] == parse_score(answer["choices"][0]["message"]["content"])
        assert json.loads(blob(store_url, call["prompt"]))["grammar"].startswith("root ::=")
    served = json.loads(data["scorer"]["detail"])["served"]
    assert served["id"].endswith("tiny.gguf")  # GET /v1/models: the server's own word
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "mentions: verified" in verified.stdout
    assert rescored.returncode == 0, rescored.stderr
    assert "rescored 2 texts with openai v1: 2 of 2 scores agree (100.0 %)" in rescored.stdout

    with tampering(store_url) as conn:  # the answer edited where it is stored
        assert replace_in_blob(conn, data["calls"][0]["completion"], "choices", "CHOICES") == 1
    altered = run_fund("verify", store_url)
    seq = seen["sentiment"]["seq"]
    assert altered.returncode == 1
    assert f"entry {seq}: blob {data['calls'][0]['completion']} was altered" in altered.stderr


@pytest.mark.slow
def test_a_recorded_score_its_completion_does_not_give_fails_verify(
        llama_server: str, venue: FakeExchange, feed: str, store_url: str) -> None:
    code, stderr = run_once(store_url, venue, feed, table(
        kind="openai", url=llama_server, model="tiny", structured="grammar"))
    seen = wake(store_url)
    forged = dict(seen["sentiment"])
    seq = forged.pop("seq")
    call = forged["data"]["calls"][0]
    call["score"] = 0.999 if call["score"] != 0.999 else -0.999  # the entry re-hashed after
    forge(store_url, "mentions", seq, forged)

    verified = run_fund("verify", store_url)

    assert code == 0, stderr
    assert verified.returncode == 1
    assert f"entry {seq}: sentiment differs from the recorded completions read again" \
        in verified.stderr
