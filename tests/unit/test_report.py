"""Tests of the self-contained HTML backtest report."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from agentfund.backtests.report import ReportSeries, write_report

START = 1_704_067_200  # 2024-01-01 00:00 UTC
SUMMARY: dict[str, object] = {"final_nav": 12345.678901234, "total_return": 0.2345678,
                              "sharpe": 1.5, "fees": "29.38 USDT", "fills": 30}


def make_series(n: int, *, symbols: int = 2, fills: int = 30, step: int = 3600,
                benchmark: bool = True, actor: str = "rebalancer") -> ReportSeries:
    """Build a deterministic sine-plus-trend series with evenly spread fills."""
    i = np.arange(n, dtype=np.float64)
    nav = 10_000.0 * (1.0 + 0.3 * i / max(n, 1) + 0.08 * np.sin(i / max(n, 1) * 25.0))
    times = [START + step * k for k in range(n)]
    allocation = {f"SYM{j}": (0.15 + 0.05 * np.sin(i / 500.0 + j)).tolist() for j in range(symbols)}
    bench = (10_000.0 * (1.0 + 0.2 * np.cos(i / max(n, 1) * 7.0))).tolist() if benchmark else None
    picks: list[int] = np.linspace(0, n - 1, fills).astype(int).tolist() if fills else []
    fill_rows = [(times[k], f"SYM{j % max(symbols, 1)}", "buy" if j % 2 == 0 else "sell",
                  "0.5", f"{nav[k]:.2f}") for j, k in enumerate(picks)]
    return ReportSeries(actor_id=actor, times=times, nav=nav.tolist(), allocation=allocation,
                        benchmark=bench, fills=fill_rows, quote="USDT")


def render(tmp_path: Path, *series: ReportSeries, name: str = "report.html") -> str:
    path = tmp_path / name
    write_report(path, "Backtest <W1> & co", SUMMARY, list(series))
    return path.read_text(encoding="utf-8")


def markers(page: str) -> list[ET.Element]:
    root = ET.fromstring(page)
    return [e for e in root.iter() if e.get("class", "").startswith("mk ")]


def test_three_charts_per_actor_and_well_formed(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000), make_series(500, actor="other"))
    root = ET.fromstring(page)  # well-formed enough to parse as XML
    assert len(list(root.iter("svg"))) == 6
    assert page.count("<svg") == 6
    assert page.count("<section>") == 2


def test_self_contained(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000))
    lowered = page.lower()
    for needle in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert needle not in lowered


def test_summary_keys_and_values_in_order(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(100))
    table = page[page.index("<table class=\"summary\">"):]
    table = table[:table.index("</table>")]
    positions = [table.index(f"<th>{key}</th>") for key in SUMMARY]
    assert positions == sorted(positions)
    for value in ("12345.7", "0.234568", "1.5", "29.38 USDT", "<td>30</td>"):
        assert value in table


def test_text_is_escaped(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(50, actor="<b>a&b</b>"))
    assert "<title>Backtest &lt;W1&gt; &amp; co</title>" in page
    assert "&lt;b&gt;a&amp;b&lt;/b&gt;" in page
    assert "<b>" not in page


def test_max_drawdown_caption_matches_series(tmp_path: Path) -> None:
    series = make_series(10_000)
    nav = np.asarray(series.nav)
    worst = float(np.max(1.0 - nav / np.maximum.accumulate(nav)))
    assert worst > 0.01
    page = render(tmp_path, series)
    assert f"max drawdown {worst * 100:.2f} %" in page


def test_drawdown_axis_reaches_the_trough(tmp_path: Path) -> None:
    series = make_series(10_000)
    nav = np.asarray(series.nav)
    worst = float(np.max(1.0 - nav / np.maximum.accumulate(nav))) * 100
    svg = list(ET.fromstring(render(tmp_path, series)).iter("svg"))[1]
    labels = [float(e.text.replace(" %", "").replace(",", ""))  # type: ignore[union-attr]
              for e in svg.iter("text") if e.get("class") == "yl"]
    assert 4 <= len(labels) <= 6
    assert min(labels) <= -worst < min(labels) + (labels[1] - labels[0]) + 1e-9
    assert max(labels) == 0


def test_one_marker_per_fill(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000, fills=30))
    found = markers(page)
    assert len(found) == 30
    assert sum(e.get("class") == "mk buy" for e in found) == 15
    assert "30 fills marked" in page


def test_many_fills_skip_markers_and_truncate_table(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000, fills=700))
    assert markers(page) == []
    assert "700 fills not marked" in page
    fills_table = page[page.index("<table class=\"fills\">"):]
    assert fills_table.count("<tr><td>") == 200
    assert "500 left out" in page


def test_axis_labels(tmp_path: Path) -> None:
    root = ET.fromstring(render(tmp_path, make_series(10_000)))
    equity = next(root.iter("svg"))
    yl = [e.text for e in equity.iter("text") if e.get("class") == "yl"]
    xl = [e.text or "" for e in equity.iter("text") if e.get("class") in ("xl", "xe")]
    assert 4 <= len(yl) <= 6
    assert len(xl) >= 2 and all(re.fullmatch(r"\d{4}-\d\d-\d\d", t) for t in xl)
    short = ET.fromstring(render(tmp_path, make_series(1440, step=60), name="short.html"))
    xl = [e.text or "" for e in next(short.iter("svg")).iter("text")
          if e.get("class") in ("xl", "xe")]
    assert xl and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", t) for t in xl)


def test_deterministic(tmp_path: Path) -> None:
    series = make_series(10_000)
    write_report(tmp_path / "a.html", "t", SUMMARY, [series])
    write_report(tmp_path / "b.html", "t", SUMMARY, [series])
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_single_point(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(1, fills=1))
    assert page.count("<svg") == 3
    assert "max drawdown 0.00 %" in page
    assert len(markers(page)) == 1


def test_flat_nav_no_allocation_no_benchmark_no_fills(tmp_path: Path) -> None:
    series = ReportSeries(actor_id="flat", times=[START + 60 * k for k in range(3000)],
                          nav=[1000.0] * 3000, allocation={}, benchmark=None, fills=[],
                          quote="USD")
    page = render(tmp_path, series)
    root = ET.fromstring(page)
    assert len(list(root.iter("svg"))) == 3
    assert "max drawdown 0.00 %" in page
    assert "No fills." in page
    assert "nan" not in page.lower() and "inf" not in page.lower().replace("info", "")


def test_a_large_series_is_downsampled_to_a_small_page(tmp_path: Path) -> None:
    series = make_series(52_000, symbols=5, fills=167, step=300)
    path = tmp_path / "big.html"
    write_report(path, "W1 5-min", SUMMARY, [series])
    assert path.stat().st_size < 400_000
    page = path.read_text(encoding="utf-8")
    assert page.count("<svg") == 3
    assert len(markers(page)) == 167
