"""Tests of the self-contained HTML backtest report (plotly figures of fund.figures)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from agentfund.backtests.report import Page, ReportSeries, curves, write_report
from fund import colours, figures

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


PLOTLY_JS = "<script type=\"text/javascript\">"


def markup(page: str) -> str:
    """The page without the bodies of its scripts (plotly.js and the figures' data)."""
    return re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S | re.I)


def charts(page: str) -> int:
    return page.count('class="plotly-graph-div"')


def test_three_charts_per_actor_and_plotly_js_once(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000), make_series(500, actor="other"))
    assert charts(page) == 6  # unit value and drawdown, benchmark, allocation
    assert page.count("<section>") == 2
    assert page.count(PLOTLY_JS) == 1 and page.index(PLOTLY_JS) < page.index("</head>")
    assert page.count("Plotly.newPlot(") == 6
    ET.fromstring(markup(page))  # the HTML around the scripts is well-formed


def test_self_contained(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(10_000))
    lowered = markup(page).lower()
    for needle in ("http://", "https://", "<link", "@import", "url("):
        assert needle not in lowered
    tags = re.findall(r"<script[^>]*>", page, re.I)
    assert tags and not [t for t in tags if "src" in t.lower()]


def test_summary_keys_and_values_in_order(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(100))
    table = page[page.index("<table class=\"summary\">"):]
    table = table[:table.index("</table>")]
    positions = [table.index(f"<th>{key}</th>") for key in SUMMARY]
    assert positions == sorted(positions)
    for value in ("12,345.7", "0.234568", "1.5", "29.38 USDT", "<td>30</td>"):
        assert value in table


def test_text_is_escaped(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(50, actor="<b>a&b</b>"))
    assert "<title>Backtest &lt;W1&gt; &amp; co</title>" in page
    assert "&lt;b&gt;a&amp;b&lt;/b&gt;" in page
    assert "<b>" not in markup(page)


def test_max_drawdown_caption_matches_series(tmp_path: Path) -> None:
    series = make_series(10_000)
    nav = np.asarray(series.nav)
    worst = float(np.max(1.0 - nav / np.maximum.accumulate(nav)))
    assert worst > 0.01
    page = render(tmp_path, series)
    assert f"max drawdown {worst * 100:.2f} %" in page


def test_drawdown_keeps_the_trough_and_its_axis_fits(tmp_path: Path) -> None:
    series = make_series(10_000)
    nav = np.asarray(series.nav)
    worst = float(np.max(1.0 - nav / np.maximum.accumulate(nav)))
    drawn = figures.nav_figure(curves(series))
    trace = next(t for t in drawn.data if t.name == "drawdown")
    assert len(trace.y) <= 2 * figures.BUCKETS  # downsampled …
    assert -float(np.min(trace.y)) == worst  # … but the trough is there, exactly
    assert drawn.layout.yaxis2.tickformat == ".0%"  # a 10 % drawdown: whole percents
    shallow = make_series(10_000)
    small = np.asarray(shallow.nav) * 0 + 10_000 - 50 * np.sin(np.arange(10_000) / 900) ** 2
    flat = ReportSeries(actor_id="a", times=shallow.times, nav=small.tolist(), allocation={},
                        benchmark=None, fills=[], quote="USDT", initial=10_000.0)
    axis = figures.nav_figure(curves(flat)).layout.yaxis2.tickformat
    assert axis == ".1%"  # a 0.5 % drawdown reads 0.0 %, -0.1 %, …, not 0 %, -1 %


def test_one_marker_per_fill(tmp_path: Path) -> None:
    series = make_series(10_000, fills=30)
    drawn = figures.nav_figure(curves(series))
    marks = {t.name: len(t.x) for t in drawn.data if t.name in ("buy", "sell")}
    assert marks == {"buy": 15, "sell": 15}
    assert "30 fills marked" in render(tmp_path, series)


def test_many_fills_skip_markers_and_truncate_table(tmp_path: Path) -> None:
    many = figures.MAX_MARKERS + 100
    series = make_series(10_000, fills=many)
    drawn = figures.nav_figure(curves(series))
    assert not [t for t in drawn.data if t.name in ("buy", "sell")]
    page = render(tmp_path, series)
    assert f"{many:,} fills not marked" in page
    fills_table = page[page.index("<table class=\"fills\">"):]
    assert fills_table.count("<tr><td>") == 200
    assert f"{many - 200:,} left out" in page


def test_deterministic(tmp_path: Path) -> None:
    series = make_series(10_000)
    write_report(tmp_path / "a.html", "t", SUMMARY, [series])
    write_report(tmp_path / "b.html", "t", SUMMARY, [series])
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_single_point(tmp_path: Path) -> None:
    page = render(tmp_path, make_series(1, fills=1))
    assert charts(page) == 3
    assert "max drawdown 0.00 %" in page
    assert "1 fill marked" in page


def test_flat_nav_no_allocation_no_benchmark_no_fills(tmp_path: Path) -> None:
    series = ReportSeries(actor_id="flat", times=[START + 60 * k for k in range(3000)],
                          nav=[1000.0] * 3000, allocation={}, benchmark=None, fills=[],
                          quote="USD")
    page = render(tmp_path, series)
    assert charts(page) == 2  # no benchmark chart
    assert "max drawdown 0.00 %" in page
    assert "No fills." in page
    text = markup(page).lower()
    assert "nan" not in text and "inf" not in text.replace("info", "")


def test_a_large_series_is_downsampled_to_a_small_page(tmp_path: Path) -> None:
    series = make_series(52_000, symbols=5, fills=167, step=300)
    path = tmp_path / "big.html"
    write_report(path, "W1 5-min", SUMMARY, [series])
    page = path.read_text(encoding="utf-8")
    assert charts(page) == 3
    assert len(page) - len(get_plotlyjs()) < 600_000  # the data: ~1,000 buckets a curve
    assert "167 fills marked" in page


def test_extra_sections_follow_the_built_in_ones(tmp_path: Path) -> None:
    def trades(s: ReportSeries, page: Page) -> str:
        return f"<h3>Trades of {s.actor_id}</h3>"

    write_report(tmp_path / "r.html", "t", SUMMARY, [make_series(100)], sections=[trades])
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.index("<h3>Fills</h3>") < page.index("<h3>Trades of rebalancer</h3>")


def test_one_colour_per_symbol_in_the_report_and_the_ui() -> None:
    symbols = ["FLOKI/USDT", "PEOPLE/USDT", "1000SATS/USDT", "BOME/USDT"]
    assigned = colours.symbol_colours(symbols)
    assert len(set(assigned.values())) == len(symbols)
    assert colours.symbol_colours(reversed(symbols)) == assigned
    series = make_series(100, symbols=0)
    allocation = {s: [0.2] * 100 for s in symbols}
    report = ReportSeries(actor_id="a", times=series.times, nav=series.nav,
                          allocation=allocation, benchmark=None, fills=[], quote="USDT")
    drawn = figures.allocation_figure(curves(report))
    assert {t.name: t.fillcolor for t in drawn.data if t.name != "cash"} == assigned


def test_buckets_keep_extremes_and_counts() -> None:
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.integers(1, 600, 50_000)).astype(np.float64)
    v = rng.normal(size=50_000).cumsum()
    cut = figures.buckets(t)
    _, ys = figures.minmax(t, v, cut)
    assert len(ys) <= 2 * figures.BUCKETS
    assert ys.min() == v.min() and ys.max() == v.max()
    counts = rng.poisson(0.2, 50_000).astype(np.float64)
    bars = figures.buckets(t, figures.BAR_BUCKETS)
    assert len(figures.sums(counts, bars)) <= figures.BAR_BUCKETS
    assert figures.sums(counts, bars).sum() == counts.sum()


def test_a_figure_on_a_page_is_the_bytes_of_setting_its_template_first() -> None:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from agentfund.backtests import report

    drawn = curves(make_series(500, symbols=3))
    config = {"displaylogo": False, "responsive": True}
    for template in ("plotly_white", "ggplot2", report.TEMPLATE):
        for make in (lambda: figures.nav_figure(drawn), lambda: figures.allocation_figure(drawn),
                     lambda: go.Figure(go.Bar(x=[1, 2], y=[3, -4]))):
            plain = make()
            plain.update_layout(template=template)
            expected = plain.to_html(full_html=False, include_plotlyjs=False, div_id="d",
                                     config=config)
            figure = make()
            before = figure.to_dict()
            for _ in range(2):  # the template kept for the process is not altered by a use
                assert figures.html_div(figure, template, div_id="d", config=config) == expected
            assert figure.to_dict() == before  # the figure itself is left as it was


def test_templates_made_ready_are_the_ones_a_figure_is_drawn_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``ready`` makes the templates beforehand (the backtest does, while its helper
    finishes): drawing then makes none, and draws the same bytes."""
    import plotly.graph_objects as go

    from agentfund.backtests import report

    figure = go.Figure(go.Bar(x=[1, 2], y=[3, -4]))
    monkeypatch.setattr(figures, "_TEMPLATES", {})
    expected = [figures.html_div(figure, t, div_id="d", config={})
                for t in ("ggplot2", report.TEMPLATE)]
    monkeypatch.setattr(figures, "_TEMPLATES", {})
    figures.ready("ggplot2", report.TEMPLATE)
    assert len(figures._TEMPLATES) == 2

    def made_again(template: object) -> bytes:
        raise AssertionError(f"template {template!r} made again")

    monkeypatch.setattr(figures, "_template", made_again)
    assert [figures.html_div(figure, t, div_id="d", config={})
            for t in ("ggplot2", report.TEMPLATE)] == expected


def test_an_unknown_template_name_is_refused() -> None:
    import plotly.graph_objects as go

    with pytest.raises(ValueError, match="no-such-template"):
        figures.html_div(go.Figure(), "no-such-template", div_id="d", config={})


def test_a_dict_template_is_merged_into_the_default_template_of_the_moment() -> None:
    import plotly.graph_objects as go
    import plotly.io as pio  # type: ignore[import-untyped]

    from agentfund.backtests import report

    before = pio.templates.default
    try:
        for default in ("ggplot2", "plotly_dark", pio.templates["seaborn"], None):
            pio.templates.default = default
            plain = go.Figure(go.Scatter(x=[1, 2], y=[1, 0]))
            plain.update_layout(template=report.TEMPLATE)
            expected = plain.to_html(full_html=False, include_plotlyjs=False, div_id="d")
            shown = figures.html_div(go.Figure(go.Scatter(x=[1, 2], y=[1, 0])),
                                     report.TEMPLATE, div_id="d", config={})
            assert shown == expected, default
    finally:
        pio.templates.default = before
