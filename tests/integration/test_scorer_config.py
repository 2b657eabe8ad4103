"""Scorers chosen in the config: the wordllama fund end to end, plugins, and bad settings.

The wordllama backtest runs twice (byte-identical journals that verify), and its mention
counts and scores are recomputed here independently: the counts with ``re`` over the
recorded headlines, the scores by loading wordllama and the head through their own public
APIs (``WordLlama.load``, the head's JSON) with numpy arithmetic of this test's own.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fund.canonical import loads
from fund.journal import open_journal
from tests.conftest import EXAMPLES, SAMPLE, run_fund

CONFIG = EXAMPLES / "sentiment.toml"
HEADLINES = SAMPLE / "news" / "reddit_headlines_2021-12-31_2022-01-20.json.gz"
HEAD = Path(__file__).resolve().parents[2] / "oracles" / "heads" / "wordllama-vader-lexicon.json"
SHORT = ("--set", "backtest.start=2022-01-16", "--set", "backtest.end=2022-01-20")
KEYWORDS = {"Trump": ["Donald Trump", "Trump"],
            "Biden": ["President Biden", "Joe Biden", "Biden"],
            "Russia": ["Russian", "Kremlin", "Russia", "Putin"],
            "Ukraine": ["Ukrainian", "Ukraine", "Kyiv"]}


def backtest(out: Path, scorer: str, *extra: str) -> dict[str, Any]:
    result = run_fund("backtest", str(CONFIG), "--out", str(out), *SHORT, "--json",
                      "--set", f"actors.mentions.params.scorer={scorer}", *extra)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def entries(journal: str) -> list[tuple[str, dict[str, Any]]]:
    with open_journal(journal) as store:
        return [(e.kind, loads(e.payload)) for e in store.read("mentions")]


def observations(journal: str, oracle: str) -> list[dict[str, Any]]:
    return [p for kind, p in entries(journal) if kind == "Observation" and p["oracle"] == oracle]


@pytest.fixture(scope="module")
def wordllama_runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return [backtest(tmp_path_factory.mktemp(name), '{ kind = "wordllama" }')
            for name in ("first", "second")]


def test_the_wordllama_fund_is_byte_identical_twice_and_verifies(
        wordllama_runs: list[dict[str, Any]]) -> None:
    first, second = wordllama_runs
    exported = [run_fund("journal", "export", run["journal"]).stdout for run in wordllama_runs]

    assert first["head_hash"] == second["head_hash"]
    assert exported[0] == exported[1] and exported[0]
    verified = run_fund("verify", first["journal"])
    assert verified.returncode == 0, verified.stderr
    start = next(p for kind, p in entries(first["journal"]) if kind == "Start")
    assert start["params"]["scorer"] == {"kind": "wordllama"}
    assert len(start["code"]["scorers"]["sentiment"]) == 64  # the scorer module's sha256


def independent_scorer() -> Any:
    """wordllama loaded through its own API (packaged files, downloads off) and the head."""
    import wordllama
    from wordllama import WordLlama

    package = Path(wordllama.__file__).parent
    with tempfile.TemporaryDirectory() as cache:
        for folder, name in (("tokenizers", "l2_supercat_tokenizer_config.json"),
                             ("weights", "l2_supercat_256.safetensors")):
            os.makedirs(Path(cache) / folder)
            os.symlink(package / folder / name, Path(cache) / folder / name)
        model = WordLlama.load(cache_dir=cache, disable_download=True)
    head = json.loads(HEAD.read_text())
    weights = np.array(head["weights"], dtype=np.float64)
    valence = model.embedding.astype(np.float64) @ weights

    def score(text: str) -> float:
        encoded = model.tokenizer.encode(text.lower(), add_special_tokens=False)
        ids = [i for i, keep in zip(encoded.ids, encoded.attention_mask, strict=True) if keep]
        total = float(valence[ids].sum())
        return total / math.sqrt(total * total + head["alpha"])

    return score


def test_wordllama_mentions_and_scores_agree_with_a_direct_computation(
        wordllama_runs: list[dict[str, Any]]) -> None:
    journal = wordllama_runs[0]["journal"]
    score = independent_scorer()
    patterns = {k: re.compile(r"\b(?:" + "|".join(map(re.escape, v)) + r")\b", re.IGNORECASE)
                for k, v in KEYWORDS.items()}
    news = {p["as_of"]: p["data"]["items"] for p in observations(journal, "news")}
    checked = {keyword: 0 for keyword in KEYWORDS}
    for payload in observations(journal, "sentiment"):
        assert payload["data"]["scorer"]["name"] == "wordllama"
        titles = [item["title"] for item in news[payload["as_of"]]]
        for keyword, pattern in patterns.items():
            found = [t for t in titles if pattern.search(t)]
            recorded = payload["data"]["keywords"][keyword]
            assert recorded["mentions"] == sum(len(pattern.findall(t)) for t in found)
            assert recorded["sentences"] == len(found)
            for hit in recorded["hits"]:
                assert hit["score"] == pytest.approx(score(hit["sentence"]), abs=6e-5)
            assert recorded["score_sum"] == pytest.approx(
                sum(score(t) for t in found), abs=1e-3)
            checked[keyword] += len(found)
    with gzip.open(HEADLINES, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    for keyword, pattern in patterns.items():  # every headline of the file, counted once
        assert checked[keyword] == sum(bool(pattern.search(r["title"])) for r in records)
    assert checked["Trump"] == 19 and checked["Biden"] == 13


@pytest.mark.parametrize(("setting", "error"), [
    ('{ kind = "llamas" }', "params.scorer.kind: unknown scorer kind 'llamas' (known: "),
    ('{ kind = "wordllama", head = 3 }', "params.scorer.head: Input should be a valid string"),
    ('{ kind = "wordllama", heads = "x" }', "params.scorer.heads: unknown key"),
    ('{ kind = "plugin", class = "tests.fixtures.scorers:Scaled", options = { scale = "x" } }',
     "scorer.options: tests.fixtures.scorers:Scaled: scale 'x' is not a number in [0, 1]"),
    ('{ kind = "wordllama", head = "MISSING" }', "scorer.head: cannot read "),
    ('{ kind = "wordllama", head = "CORRUPT" }', "is not a wordllama head"),
])
def test_a_bad_scorer_setting_is_a_one_line_error_naming_the_key(
        setting: str, error: str, tmp_path: Path) -> None:
    corrupt = tmp_path / "head.json"
    corrupt.write_text(HEAD.read_text()[:-200])
    setting = setting.replace("MISSING", str(tmp_path / "absent.json"))
    setting = setting.replace("CORRUPT", str(corrupt))
    result = run_fund("backtest", str(CONFIG), "--out", str(tmp_path / "out"), *SHORT,
                      "--set", f"actors.mentions.params.scorer={setting}")

    assert result.returncode == 2
    assert error in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out" / "journal.db").exists()


def test_a_plugin_scorer_takes_its_options(tmp_path: Path) -> None:
    plugin = ('{ kind = "plugin", class = "tests.fixtures.scorers:Scaled", '
              'options = { scale = 0.25, sign = -1 } }')
    run = backtest(tmp_path, plugin)

    scored = [p["data"] for p in observations(run["journal"], "sentiment")
              if p["data"]["keywords"]["Trump"]["hits"]]
    assert scored and scored[0]["scorer"]["detail"] == "scale=0.25 sign=-1"
    assert {h["score"] for d in scored for h in d["keywords"]["Trump"]["hits"]} == {-0.25}
    assert run_fund("verify", run["journal"]).returncode == 0


def test_a_non_deterministic_plugin_is_replayed_from_its_recorded_scores(
        tmp_path: Path) -> None:
    run = backtest(tmp_path, '"tests.fixtures.scorers:Sampled"')

    scores = {h["score"] for p in observations(run["journal"], "sentiment")
              for h in p["data"]["keywords"]["Trump"]["hits"]}
    assert len(scores) > 5  # random: scoring again would never give these
    verified = run_fund("verify", run["journal"])
    assert verified.returncode == 0, verified.stderr


def test_a_plugin_that_raises_is_an_observation_error_and_the_fund_holds(
        tmp_path: Path) -> None:
    run = backtest(tmp_path, '{ kind = "plugin", class = "tests.fixtures.scorers:Broken" }')

    journal = entries(run["journal"])
    failed = [p for kind, p in journal if kind == "Observation" and p["oracle"] == "sentiment"
              and "error" in p]
    assert failed and "model server unreachable" in failed[0]["error"]
    decisions = [p for kind, p in journal if kind == "Decision"]
    assert all(not d.get("intents") for d in decisions) and run["fills"] == 0
    assert any(d["rule"] == "hold: no news" for d in decisions)
    assert run_fund("verify", run["journal"]).returncode == 0
