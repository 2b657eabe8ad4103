"""The documentation: the site builds strictly, the README's front page and links hold,
the generated config reference cannot drift from the models, and the examples run."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
OWN_PAGES = [README, *sorted(p for p in DOCS.rglob("*.md")
                             if p.name not in ("ARCHITECTURE.md", "BENCHMARKS.md"))]
"""Pages whose file references must exist (ARCHITECTURE and BENCHMARKS are records of
their own, kept as written)."""

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
REPO_PATH = re.compile(r"`((?:fund|strategies|oracles|backtests|scripts|examples|tests|"
                       r"benchmarks|data|docs)/[\w./-]*)`")
EXTERNAL_ASSET = re.compile(r"<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="
                            r"[\"'](?:https?:)?//", re.IGNORECASE)
EXTERNAL_CSS = re.compile(r"url\([\"']?(?:https?:)?//|@import\s+[\"']?(?:https?:)?//")


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference",
                                                  ROOT / "scripts" / "config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it (strict), into a temporary directory."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out),
         "--config-file", str(ROOT / "mkdocs.yml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, check=False)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    return out


def test_site_builds_with_every_page(site: Path) -> None:
    reference = (site / "reference" / "configuration.html").read_text(encoding="utf-8")

    assert (site / "index.html").is_file()
    for page in ("backtests", "strategies", "oracles", "daemon", "operations", "investors",
                 "verification", "SWEEPS", "ARCHITECTURE", "development", "BENCHMARKS"):
        assert (site / f"{page}.html").is_file(), page
    assert "max_drawdown" in reference and "order_validity_ms" in reference
    assert "Binance spot" in (site / "data.html").read_text(encoding="utf-8")


def test_site_loads_nothing_from_the_internet(site: Path) -> None:
    html = [p for p in site.rglob("*.html")]
    css = [p for p in site.rglob("*.css")]

    external = [str(p.relative_to(site)) for p in html
                if EXTERNAL_ASSET.search(p.read_text(encoding="utf-8"))]
    external += [str(p.relative_to(site)) for p in css
                 if EXTERNAL_CSS.search(p.read_text(encoding="utf-8"))]

    assert html and not external


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text(encoding="utf-8").splitlines()[:25])

    assert "make demo" in first_screen
    assert "make test" in first_screen


def _relative_links(page: Path) -> Iterator[str]:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if not re.match(r"[a-z][a-z0-9+.-]*:|#", target):
            yield target


def test_readme_links_point_to_files() -> None:
    links = list(_relative_links(README))

    missing = [t for t in links if not (ROOT / t.split("#")[0]).exists()]

    assert links and not missing


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_a_page_names_exist(page: Path) -> None:
    named = REPO_PATH.findall(page.read_text(encoding="utf-8"))

    missing = [path for path in named if not (ROOT / path).exists()]

    assert not missing


def test_every_command_has_a_line_in_the_command_reference() -> None:
    from fund.cli import _parser

    subparsers = next(a for a in _parser()._actions
                      if isinstance(a, argparse._SubParsersAction))
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")

    missing = [name for name in subparsers.choices if f"`fund {name}" not in page]

    assert not missing


def test_config_reference_describes_every_key() -> None:
    reference = _reference()

    text = reference.render()

    keys = set(reference.keys_in(text))
    assert {"initial_cash", "fee_rate", "valuation_cron", "deadline_s", "max_drawdown",
            "band", "keywords", "order_validity_ms"} <= keys


def test_config_reference_refuses_a_key_without_description() -> None:
    reference = _reference()
    descriptions = dict(reference.DESCRIPTIONS)
    del descriptions["exchange.timeout_ms"]

    with pytest.raises(reference.ReferenceError, match=r"no description for exchange\.timeout_ms"):
        reference.render(descriptions)


def test_config_reference_refuses_a_description_of_no_key() -> None:
    reference = _reference()
    descriptions = {**reference.DESCRIPTIONS, "fund.leverage": "Borrow this much."}

    with pytest.raises(reference.ReferenceError, match=r"not in the config models: fund\.leverage"):
        reference.render(descriptions)


def test_readme_strategy_backtests_and_verifies(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert code is not None
    (tmp_path / "dip.py").write_text(code.group(1), encoding="utf-8")
    prices = ROOT / "data" / "sample" / "binance_spot_2024"
    (tmp_path / "dip.toml").write_text(
        f'[fund]\nname = "dip"\ninitial_cash = 10000\nquote = "USDT"\nfee_rate = 0.001\n'
        f'[backtest]\nprices = "{prices.as_posix()}"\ntimeframe = "5m"\n'
        f'start = 2024-01-01\nend = 2024-01-07\n'
        f'[actors.dipper]\ncron = "0 * * * *"\nstrategy = "dip:BuyTheDip"\n'
        f'[actors.dipper.params]\nbelow = 50000\n', encoding="utf-8")

    run = subprocess.run([sys.executable, "-m", "fund", "backtest", "dip.toml", "--out", "out",
                          "--json", "--no-report"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    verify = subprocess.run([sys.executable, "-m", "fund", "verify", "out/journal.db"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            check=False)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["fills"] == 1
    assert verify.returncode == 0, verify.stderr


def test_strategies_page_example_is_a_valid_strategy(tmp_path: Path) -> None:
    from fund.config import load_config

    page = (DOCS / "strategies.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", page, re.S)
    assert code is not None
    (tmp_path / "dip_docs.py").write_text(code.group(1), encoding="utf-8")
    config = tmp_path / "fund.toml"
    config.write_text(
        '[fund]\ninitial_cash = 10000\nquote = "USDT"\n'
        '[actors.dipper]\ncron = "0 * * * *"\nstrategy = "dip_docs:BuyTheDip"\n'
        '[actors.dipper.params]\nbelow = 42000\n', encoding="utf-8")

    loaded = load_config(config)

    assert [spec.strategy for spec in loaded.actors] == ["dip_docs:BuyTheDip"]
    assert loaded.actors[0].params.below == 42000
