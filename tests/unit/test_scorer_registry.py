"""The scorer registry: settings as tables or old strings, errors naming the key, the
wordllama scorer's determinism and identity, and that nothing reaches the network."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentfund.oracles.scorers import (
    KINDS,
    ScorerConfigError,
    make_scorer,
    scorer_class,
    scorer_options,
)
from agentfund.oracles.scoring import CachedScorer, VaderScorer
from agentfund.oracles.wordllama import PACKAGED_HEAD, WordLlamaScorer, load_head
from tests.fixtures.scorers import Broken, Sampled, Scaled

HEADLINES = ["Stocks soar after strong earnings", "Markets crash as war fears grow",
             "The committee meets on Tuesday", "", "Biden's approval slips; Trump gloats"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Make every socket connection (and name lookup) fail, recording each attempt."""
    attempts: list[Any] = []

    def refuse(*args: Any, **_kwargs: Any) -> Any:
        attempts.append(args[1:] or args)
        raise OSError("network access is not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield attempts


def test_old_strings_and_tables_mean_the_same_scorers() -> None:
    assert scorer_options("vader") == scorer_options({"kind": "vader"})
    plugin = scorer_options("tests.fixtures.scorers:Scaled")
    assert plugin.kind == "plugin" and plugin.model_dump(by_alias=True)["class"] == \
        "tests.fixtures.scorers:Scaled"
    assert scorer_class("vader") is VaderScorer
    assert scorer_class({"kind": "wordllama"}) is WordLlamaScorer
    assert scorer_class({"kind": "plugin", "class": "tests.fixtures.scorers:Scaled"}) is Scaled


@pytest.mark.parametrize(("setting", "key", "message"), [
    ({"kind": "gpt"}, "scorer.kind", "unknown scorer kind 'gpt'"),
    ({"head": "x"}, "scorer.kind", "missing"),
    ({"kind": "wordllama", "head": 1}, "scorer.head", "valid string"),
    ({"kind": "vader", "extra": 1}, "scorer.extra", "unknown key"),
    ({"kind": "plugin"}, "scorer.class", "missing required key"),
    ({"kind": "plugin", "class": "no colon"}, "scorer.class", "should match pattern"),
    ({"kind": "plugin", "class": "a:B", "options": []}, "scorer.options", "valid dictionary"),
    ("sentiment", "scorer", "unknown scorer 'sentiment'"),
    (3, "scorer", "expected a table"),
])
def test_a_bad_setting_names_its_key(setting: Any, key: str, message: str) -> None:
    with pytest.raises(ScorerConfigError) as caught:
        scorer_options(setting)

    assert caught.value.key == key and message in caught.value.message
    assert str(caught.value).startswith(f"{key}: ")


def test_every_kind_is_one_entry_with_an_options_model_and_a_builder() -> None:
    assert set(KINDS) >= {"vader", "wordllama", "plugin"}
    for name, kind in KINDS.items():
        assert kind.name == name and "kind" in kind.options.model_fields


def test_a_plugin_gets_its_options_and_is_cached_only_when_deterministic() -> None:
    scaled = make_scorer({"kind": "plugin", "class": "tests.fixtures.scorers:Scaled",
                          "options": {"scale": 0.3, "sign": -1}})
    sampled = make_scorer("tests.fixtures.scorers:Sampled")

    assert isinstance(scaled, CachedScorer) and scaled.score(["a", "b"]) == [-0.3, -0.3]
    assert isinstance(sampled, Sampled) and not sampled.deterministic
    assert isinstance(make_scorer("tests.fixtures.scorers:Broken"), CachedScorer)
    with pytest.raises(ConnectionError):
        Broken().score(["a"])
    with pytest.raises(ScorerConfigError, match=r"^scorer.options: .*unexpected keyword"):
        make_scorer({"kind": "plugin", "class": "tests.fixtures.scorers:Scaled",
                     "options": {"size": 1}})
    with pytest.raises(ScorerConfigError, match=r"^scorer.class: .* is not a Scorer"):
        make_scorer({"kind": "plugin", "class": "pathlib:PurePath"})


def test_wordllama_scores_are_bit_identical_and_independent_of_the_batch() -> None:
    first = WordLlamaScorer().score(HEADLINES)
    again = WordLlamaScorer()
    one_by_one = [again.score([text])[0] for text in reversed(HEADLINES)][::-1]

    assert first == one_by_one == again.score(HEADLINES)
    assert first[0] > 0.05 and first[1] < -0.05 and first[3] == 0.0
    assert all(-1 <= s <= 1 and s == round(s, 4) for s in first)


def test_the_wordllama_identity_pins_weights_tokenizer_and_head(tmp_path: Path) -> None:
    head = json.loads(PACKAGED_HEAD.read_text())
    head["alpha"] = 10.0
    other = tmp_path / "head.json"
    other.write_text(json.dumps(head))
    packaged, changed = WordLlamaScorer(), WordLlamaScorer(other)

    assert packaged.identity.name == "wordllama" and packaged.identity.version == "0.4.0.post1"
    for part in ("weights=", "tokenizer=", f"head={load_head(PACKAGED_HEAD).sha256}"):
        assert part in packaged.identity.detail
    assert changed.identity.key != packaged.identity.key
    assert changed.score(HEADLINES[:1]) != packaged.score(HEADLINES[:1])


def test_a_head_whose_weights_are_not_float32_is_refused(tmp_path: Path) -> None:
    head = json.loads(PACKAGED_HEAD.read_text())
    head["weights"][0] += 1e-12
    path = tmp_path / "head.json"
    path.write_text(json.dumps(head))

    with pytest.raises(ScorerConfigError, match=r"^scorer.head: .*float32"):
        make_scorer({"kind": "wordllama", "head": str(path)})


def test_loading_and_scoring_with_wordllama_never_touches_the_network(
        no_network: list[Any]) -> None:
    from agentfund.oracles.wordllama import load_model

    load_model.cache_clear()  # load it again here, under the guard
    scores = make_scorer({"kind": "wordllama"}).score(HEADLINES)

    assert len(scores) == len(HEADLINES) and no_network == []
