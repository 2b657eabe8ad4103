"""The model scorers' configuration, answer parsing and record, without a model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentfund.oracles.base import OracleError
from agentfund.oracles.llm import Call, ReplayError, check_identity, parse_score
from agentfund.oracles.llm_openai import OpenAIOptions, OpenAIScorer
from agentfund.oracles.scorers import ScorerConfigError, make_scorer, scorer_options


@pytest.mark.parametrize(("content", "score"), [
    ('{"score": 0.25}', 0.25), ('{"score": -1}', -1.0), (" 0.5 ", 0.5),
    ('{"score": 0.123456}', 0.1235), ('{"score": -0.0}', 0.0)])
def test_a_score_is_read_from_the_answer(content: str, score: float) -> None:
    assert parse_score(content) == score


@pytest.mark.parametrize(("content", "error"), [
    ("good news", "unparsable completion 'good news'"),
    ('{"score": 1.5}', "score 1.5 is not a number in [-1, 1]"),
    ('{"sentiment": 0.5}', "holds no score"),
    ('{"score": true}', "holds no score"),
    ('{"score": 0.5', "unparsable completion")])
def test_an_answer_that_is_not_a_score_says_why(content: str, error: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_score(content)
    assert error in str(caught.value)


def test_options_are_validated_naming_the_key() -> None:
    with pytest.raises(ScorerConfigError, match=r"^scorer\.model: missing required key$"):
        scorer_options({"kind": "openai"})
    with pytest.raises(ScorerConfigError, match=r"^scorer\.concurrency: "):
        scorer_options({"kind": "openai", "model": "m", "concurrency": "4"})
    with pytest.raises(ScorerConfigError, match=r"^scorer\.temprature: unknown key$"):
        scorer_options({"kind": "llama", "model": "m.gguf", "temprature": 0})
    with pytest.raises(ScorerConfigError, match=r"^scorer\.prompt: .*must contain \{text\}"):
        scorer_options({"kind": "openai", "model": "m", "prompt": "Rate this."})
    options = scorer_options({"kind": "openai", "model": "m", "temperature": 0, "seed": 1})
    assert isinstance(options, OpenAIOptions) and options.temperature == 0.0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1",
                                 "http://[::1]:8000/v1", "http://127.1.2.3/v1"])
def test_a_server_on_this_machine_needs_no_opt_in(url: str) -> None:
    assert isinstance(make_scorer({"kind": "openai", "url": url, "model": "m"}), OpenAIScorer)


@pytest.mark.parametrize("url", ["http://192.168.1.5:8080/v1", "https://api.example.com/v1"])
def test_a_server_elsewhere_needs_allow_remote(url: str) -> None:
    with pytest.raises(OracleError, match=r"^scorer\.url: .* is not on this machine"):
        make_scorer({"kind": "openai", "url": url, "model": "m"})
    scorer = make_scorer({"kind": "openai", "url": url, "model": "m", "allow_remote": True})
    assert isinstance(scorer, OpenAIScorer) and not scorer.deterministic


def test_a_missing_or_foreign_model_file_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: "
                                            "pip install 'agentfund[llama]'")
    missing = tmp_path / "nope.gguf"
    foreign = tmp_path / "foreign.gguf"
    foreign.write_bytes(b"PK\x03\x04 not a model")

    with pytest.raises(OracleError, match=r"^scorer\.model: .*nope\.gguf: no such file$"):
        make_scorer({"kind": "llama", "model": str(missing)})
    with pytest.raises(OracleError, match=r"^scorer\.model: .*foreign\.gguf: not a GGUF file$"):
        make_scorer({"kind": "llama", "model": str(foreign)})


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an absent package imports as

    with pytest.raises(OracleError) as caught:
        make_scorer({"kind": "llama", "model": str(tmp_path / "m.gguf")})

    assert str(caught.value) == ("the llama scorer needs llama-cpp-python: "
                                 "pip install 'agentfund[llama]'")


def test_a_call_round_trips_through_its_journaled_form() -> None:
    calls = [Call(text="a", prompt="p" * 64, completion="c" * 64, score=0.5),
             Call(text="b", prompt="p" * 64, completion="c" * 64, error="bad", failed="parse"),
             Call(text="c", prompt="p" * 64, completion=None, error="HTTP 400",
                  failed="answer")]

    assert [Call.from_payload(call.to_payload()) for call in calls] == calls
    assert calls[1].to_payload() == {"text": "b", "prompt": "p" * 64, "completion": "c" * 64,
                                     "error": "bad", "failed": "parse"}


def test_a_recorded_identity_must_agree_with_the_configured_scorer() -> None:
    detail = json.dumps({"model": "m", "prompt": "abc", "decoding": {"temperature": 0.0}})
    recorded = {"name": "openai", "version": "v1", "detail": detail}

    check_identity(recorded, "openai", {"model": "m", "prompt": "abc"})
    with pytest.raises(ReplayError, match=r'scored with prompt "abc", but the configured '
                                          r'scorer has "xyz"'):
        check_identity(recorded, "openai", {"prompt": "xyz"})
    with pytest.raises(ReplayError, match="scored by 'openai', but the configured scorer is "
                                          "'llama'"):
        check_identity(recorded, "llama", {})
