"""The Decisions page in a real browser: ``fund ui`` on a real backtest's journal, a decision
opened BY CLICKING its row in the table (headless Chromium, Playwright), a screenshot kept
in ``artifacts/ui-screenshots/decision-clicked.png``, and no number on the opened decision's
page shown with more digits than fund.display allows (money and percentages to two
decimals, amounts and prices to DIGITS significant digits).

Uses test_browser's fixtures (the backtest, the server, headless Chromium) and helpers;
skipped, as they are, without Chromium or playwright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fund.canonical import loads
from fund.display import DIGITS
from fund.journal import open_journal
from tests.ui import test_browser as shared
from tests.ui.test_browser import (
    ACTOR,
    WAIT_MS,
    Run,
    grid_text,
    heading,
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

HEADER_PX = 36  # a Streamlit data grid's header row
ROW_PX = 35  # and each of its rows
MARKER_PX = 15  # the middle of the row-selection column, from the grid's left edge

def test_the_digit_rule_catches_the_journals_precision() -> None:
    assert too_long("fee 2.00000000000000000000000000000184 USDT")
    assert too_long("buy 0.02944497209107395301040487164 BTC/USDT")
    assert not too_long("10,842.53 USDT · 0.15347 · 15,342.653 · 0.000012345678 · +0.86 %")
    assert not too_long("hash 842f3da787303b9a… client order id af-79e85839cf1d4b11363fbe954b8b2")


def click_row(page: Page, row: int) -> None:
    """Click the selection box of the ``row``-th row of the page's first data grid."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for(timeout=WAIT_MS)
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + MARKER_PX, box["y"] + HEADER_PX + ROW_PX * row + ROW_PX // 2)


def test_a_decision_opened_by_clicking_its_row(run: Run, base: str, page: Page) -> None:
    with open_journal(f"sqlite:///{run.journal}", must_exist=True) as store:
        stream = list(store.read(ACTOR))
    decisions = {e.seq: loads(e.payload) for e in stream if e.kind == "Decision"}
    intents = [loads(e.payload) for e in stream if e.kind == "OrderIntent"]
    fills = [loads(e.payload) for e in stream if e.kind == "Fill"]
    with_orders = sorted((s for s, p in decisions.items() if p["intents"]), reverse=True)
    assert len(with_orders) >= 2

    page.goto(f"{base}/?page=Decisions&actor={ACTOR}")
    heading(page, "Decisions")
    settle(page)
    no_exception(page)
    page.get_by_text("Only with orders", exact=True).click()  # the decisions that traded
    page.get_by_text(f"of {len(with_orders):,} matching").wait_for(timeout=WAIT_MS)
    settle(page)
    heading(page, f"Decision {with_orders[0]}: {decisions[with_orders[0]]['rule']}")

    row = len(with_orders) - 1  # the oldest: the first investment, every market bought
    seq = with_orders[row]
    click_row(page, row)
    heading(page, f"Decision {seq}: {decisions[seq]['rule']}")
    settle(page)
    shot(page, "decision-clicked")
    no_exception(page)
    assert f"decision={seq}" in page.url
    mine = [i for i in intents if i["decision"] == seq]
    page.get_by_text(f"Orders ({len(mine)})").wait_for(timeout=WAIT_MS)

    body = page.locator("[data-testid='stMain']").first.inner_text()
    grids = grid_text(page)
    for intent in mine:
        assert intent["client_order_id"] in body
        assert f"{intent['side']} " in body and intent["symbol"] in body
    ours = [f for f in fills if f["client_order_id"] in {i["client_order_id"] for i in mine}]
    assert ours and grids.count(" @ ") >= len(ours)  # each fill's row was read
    assert "drift (% of NAV)" in grids  # the reasons, as a table
    shown = body + "\n" + grids
    assert too_long(shown) == []
    for raw in [i["amount"] for i in mine] + [f["fee"] for f in ours]:
        if len(raw.replace(".", "").lstrip("0")) > DIGITS:
            assert raw not in shown
