"""The Trades page in a real browser: ``fund ui`` on a real backtest's journal, opened by
clicking in the sidebar, screenshot kept in ``artifacts/ui-screenshots/trades.png``, and
no number shown with more digits than fund.display allows.

Uses test_browser's fixtures (the backtest, the server, headless Chromium) and helpers;
skipped, as they are, without Chromium or playwright.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from tests.ui import test_browser as shared
from tests.ui.test_browser import (
    WAIT_MS,
    Run,
    grid_text,
    heading,
    metrics,
    no_exception,
    settle,
    shot,
    too_long,
)

pytestmark = shared.pytestmark
# test_browser's fixtures, by their own names: the backtest, `fund ui`, Chromium, a page
run, serve, browser, base, page = shared.run, shared.serve, shared.browser, shared.base, \
    shared.page

if TYPE_CHECKING:
    from playwright.sync_api import Page

def test_the_rule_catches_journal_precision() -> None:
    assert too_long("fee 2.00000000000000000000000000000184 USDT, 8060615.831049492181202643882")
    assert not too_long("1,234,567.89 USDT · 0.11732 · 13,836.551 · 0.000012345678 · 100.00 %")


def test_trades_page_opened_by_clicking(run: Run, base: str, page: Page) -> None:
    page.goto(f"{base}/?page=Overview")
    heading(page, "Overview")
    settle(page)
    shown = metrics(page)
    assert shown["Fees (USDT)"] == f"{Decimal(run.summary['fees']).quantize(Decimal('0.01')):,}"

    radio = page.locator('[data-testid="stSidebar"] [data-testid="stRadio"]')
    radio.get_by_text("Trades", exact=True).click()
    heading(page, "Trades")
    page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
    settle(page)
    shot(page, "trades")
    no_exception(page)
    assert "page=Trades" in page.url
    assert page.locator(".js-plotly-plot").count() == 3  # P&L per asset, calendar, price
    shown = metrics(page)
    for label, value in shown.items():
        if "(USDT)" in label:  # money: to the cent
            assert re.fullmatch(r"-?\d{1,3}(,\d{3})*\.\d\d", value), (label, value)
    assert shown["Fees (USDT)"] == \
        f"{Decimal(run.summary['fees']).quantize(Decimal('0.01')):,}"
    assert shown["Round trips"].replace(",", "").isdigit()

    body = page.locator("[data-testid='stMain']").first.inner_text()
    cells = grid_text(page)
    assert "BTC/USDT" in cells, "the data grids' cells are not readable"
    assert not too_long(body), too_long(body)
    assert not too_long(cells), too_long(cells)
    money_columns = re.findall(r"\b\d[\d,]*\.\d+\b", cells)
    assert money_columns  # the grids hold numbers, and the rule above was applied to them
