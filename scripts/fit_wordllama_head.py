"""Fit the wordllama sentiment head that ships in oracles/heads/ (numpy only, offline).

    .venv/bin/python scripts/fit_wordllama_head.py [--out HEAD.json]

Data (shipped by vaderSentiment 3.3.2, MIT licence, © 2016 C.J. Hutto): VADER's lexicon,
``vader_lexicon.txt`` — 7,506 words, emoticons and slang, each with the mean of ten human
ratings on -4 … +4 (Hutto & Gilbert, ICWSM 2014). Every entry is one training example:
its target is the mean rating, its features the sum of wordllama's embeddings of its
tokens. VADER's lexicon lists only words that carry sentiment, so the head also learns
what neutral looks like from every other whole word of wordllama's vocabulary (the tokens
``▁word`` of two or more ASCII letters that the lexicon does not list), each with target
0 — which is what VADER itself assumes of a word it does not list.

The fit is ridge regression without intercept (a text with no tokens is neutral), solved
in float64 and rounded to float32, so that scoring can be exact (oracles/wordllama.py).
It reports the correlation on a held-out fifth of the lexicon, then fits on everything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from agentfund.oracles.scoring import VADER_LEXICON
from agentfund.oracles.wordllama import DIM, HEAD_FORMAT, MODEL, PACKAGED_HEAD, load_model

MIN_LETTERS = 2
RIDGE = 1.0  # λ: barely any shrinkage; the neutral words do the regularising
ALPHA = 15.0  # VADER's normalisation constant: score = s / sqrt(s² + α)


def lexicon() -> dict[str, float]:
    """VADER's lexicon: token → mean human rating (-4 … +4)."""
    ratings = {}
    for line in VADER_LEXICON.read_text(encoding="utf-8").splitlines():
        token, mean, *_ = line.split("\t")
        ratings[token] = float(mean)
    return ratings


def neutral_words(tokenizer: object, listed: set[str]) -> list[str]:
    """Whole words of the vocabulary (▁ + ≥ 4 ASCII letters) that the lexicon does not list."""
    vocabulary = tokenizer.get_vocab()  # type: ignore[attr-defined]
    words = {t[1:].lower() for t in vocabulary if t.startswith("\u2581")
             and len(t) > MIN_LETTERS and t[1:].isascii() and t[1:].isalpha()}
    return sorted(words - listed)


def features(words: list[str]) -> np.ndarray:
    """Sum of each word's token embeddings, in float64."""
    model = load_model()
    encoded = model.tokenizer.encode_batch(words, add_special_tokens=False)
    return np.stack([model.embedding[item.ids].astype(np.float64).sum(axis=0)
                     for item in encoded])


def ridge(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ridge regression weights (no intercept)."""
    return np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)


def main() -> None:
    """Fit, report the held-out correlation, write the head file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PACKAGED_HEAD)
    args = parser.parse_args()
    ratings = lexicon()
    neutral = neutral_words(load_model().tokenizer, set(ratings))
    words = [*ratings, *neutral]
    x = features(words)
    y = np.array([*ratings.values(), *[0.0] * len(neutral)])
    held = np.arange(len(words)) % 5 == 0
    lexical = np.arange(len(words)) < len(ratings)
    trial = ridge(x[~held], y[~held])
    test = held & lexical
    correlation = float(np.corrcoef(x[test] @ trial, y[test])[0, 1])
    weights = ridge(x, y).astype(np.float32)
    head = {
        "format": HEAD_FORMAT,
        "model": f"wordllama {MODEL}_{DIM}",
        "alpha": ALPHA,
        "lowercase": True,
        "weights": [float(w) for w in weights],
        "fit": {
            "script": "scripts/fit_wordllama_head.py",
            "data": "vaderSentiment 3.3.2 vader_lexicon.txt (MIT, (c) 2016 C.J. Hutto): "
                    f"{len(ratings)} human-rated entries; {len(neutral)} other whole words "
                    "of the wordllama vocabulary as neutral (0)",
            "method": f"ridge regression, lambda {RIDGE}, no intercept, on the sum of "
                      "token embeddings; weights rounded to float32",
            "held_out_correlation": round(correlation, 4),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(ratings)} rated + {len(neutral)} neutral words; "
          f"held-out correlation with the human ratings {correlation:.4f}")


if __name__ == "__main__":
    main()
