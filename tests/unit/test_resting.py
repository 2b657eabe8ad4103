"""The resting-order fill model (fund/exchange/resting.py): placement by the paper adapter,
the fold of working orders, and matching on candles — touch, trade-through, the volume cap,
stops, post-only and cancels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fund.actor import _check_type
from fund.config import ConfigError, check_live, load_config
from fund.exchange.base import Event, PlacedOrder
from fund.exchange.paper import PaperAdapter
from fund.exchange.resting import Candle, WorkingOrders, cancel, match, recorded_candles
from fund.ledger import Ledger, Position
from fund.markets import Market
from fund.messages import IntentEntry, OrderIntent
from tests.conftest import EXAMPLES, SAMPLE_PRICES

D = Decimal
MARKET = Market.parse("BTC/USDT", {"price_step": "0.01", "amount_step": "0.001"})
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PAPER = PaperAdapter(fee_rate=D("0.001"), slippage_bps=D(0))
COID = "af-" + "1" * 29


def candle(minutes: int, o: str, h: str, low: str, volume: str = "100") -> Candle:
    start = T0 + timedelta(minutes=minutes)
    return Candle(time=start, close_time=start + timedelta(minutes=5), open=D(o), high=D(h),
                  low=D(low), volume=D(volume))


def books(cash: str = "100000", held: str = "0", price: str = "100") -> Ledger:
    ledger = Ledger(quote="USDT", cash=D(cash))
    ledger.prices["BTC/USDT"] = D(price)
    if D(held):
        ledger.positions["BTC/USDT"] = Position(amount=D(held), avg_cost=D(price))
    return ledger


def place(intent: OrderIntent, ledger: Ledger, fold: WorkingOrders, coid: str = COID,
          seq: int = 10) -> list[Event]:
    """Place an intent at the wake T0 as the core does: journal it, submit it, fold both."""
    fold.apply(seq, "OrderIntent", IntentEntry(intent=intent, client_order_id=coid,
                                               decision=seq - 1).to_payload(), T0)
    events = PAPER.submit(PlacedOrder(client_order_id=coid, intent=intent, market=MARKET),
                          ledger.view())
    settle(events, ledger, fold)
    return events


def settle(events: list[Event], ledger: Ledger, fold: WorkingOrders) -> None:
    for kind, payload in events:
        decoded = {k: str(v) if isinstance(v, Decimal) else v for k, v in payload.items()}
        fold.apply(0, kind, decoded, T0)
        ledger.apply(kind, decoded)


def matched(fold: WorkingOrders, ledger: Ledger, candles: list[Candle], *,
            since: datetime | None = T0, until: datetime = T0 + timedelta(hours=1),
            fraction: str = "1") -> list[Event]:
    events = match(PAPER, list(fold.working.values()), {"BTC/USDT": candles}, since=since,
                   until=until, portfolio=ledger.view(), markets={"BTC/USDT": MARKET},
                   fraction=D(fraction))
    settle(events, ledger, fold)
    return events


def kinds(events: list[Event]) -> list[tuple[str, Any]]:
    return [(kind, p.get("status") or p.get("price")) for kind, p in events]


def limit(side: str, price: str, amount: str = "1", tif: Any = "GTC") -> OrderIntent:
    return OrderIntent(symbol="BTC/USDT", side=side, amount=D(amount),  # type: ignore[arg-type]
                       order_type="limit", limit_price=D(price), time_in_force=tif)


def test_a_gtc_limit_away_from_the_price_rests_open() -> None:
    ledger, fold = books(), WorkingOrders()

    events = place(limit("buy", "95"), ledger, fold)

    assert kinds(events) == [("OrderAck", "open")]
    assert list(fold.working) == [COID]


def test_a_touch_is_not_a_fill_one_tick_through_is() -> None:
    ledger, fold = books(), WorkingOrders()
    place(limit("buy", "95"), ledger, fold)

    touched = matched(fold, ledger, [candle(0, "96", "97", "95.00")])
    through = matched(fold, ledger, [candle(60, "96", "97", "94.99")],
                      since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))

    assert touched == []
    assert kinds(through) == [("Fill", D("95")), ("OrderAck", "filled")]
    assert ledger.positions["BTC/USDT"].amount == D(1)
    assert ledger.cash == D(100000) - D(95) - D("0.095")
    assert fold.working == {}


def test_a_sell_limit_fills_when_the_high_is_a_tick_above() -> None:
    ledger, fold = books(held="2"), WorkingOrders()
    place(limit("sell", "105"), ledger, fold)

    assert matched(fold, ledger, [candle(0, "100", "105.00", "99")]) == []
    assert kinds(matched(fold, ledger, [candle(60, "100", "105.01", "99")],
                         since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))) == \
        [("Fill", D("105")), ("OrderAck", "filled")]


def test_only_candles_opened_since_placement_and_closed_since_the_last_wake_count() -> None:
    ledger, fold = books(), WorkingOrders()
    place(limit("buy", "95"), ledger, fold)
    before = candle(-5, "96", "97", "90")  # opened before the order was placed
    forming = candle(58, "96", "97", "90")  # closes after the wake (T0 + 1h)

    assert matched(fold, ledger, [before, forming]) == []
    assert matched(fold, ledger, [candle(0, "96", "97", "90")], since=T0 + timedelta(hours=1),
                   until=T0 + timedelta(hours=2)) == []  # closed before the last wake


def test_fills_are_capped_at_the_volume_fraction_and_the_rest_stays_working() -> None:
    ledger, fold = books(), WorkingOrders()
    place(limit("buy", "95", amount="5"), ledger, fold)

    first = matched(fold, ledger, [candle(0, "96", "97", "90", volume="20"),
                                   candle(5, "96", "97", "90", volume="10")], fraction="0.1")

    assert [(k, p["fill_id"][-2:], p["amount"]) for k, p in first] == [
        ("Fill", "-1", D(2)), ("Fill", "-2", D(1))]
    assert fold.working[COID].remaining == D(2)
    second = matched(fold, ledger, [candle(60, "96", "97", "90", volume="1000")],
                     since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2),
                     fraction="0.1")
    assert [(k, p.get("fill_id"), p.get("amount"), p.get("filled")) for k, p in second] == [
        ("Fill", COID + "-3", D(2), None), ("OrderAck", None, None, D(5))]


def test_a_sell_is_capped_at_the_holding_and_a_buy_at_the_cash() -> None:
    ledger, fold = books(cash="50", held="0.5"), WorkingOrders()
    place(limit("buy", "95"), ledger, fold, coid="af-buy", seq=10)  # first: before the sale
    place(limit("sell", "105", amount="2"), ledger, fold, coid="af-sell", seq=11)

    events = matched(fold, ledger, [candle(0, "100", "110", "90")])

    amounts = {p["client_order_id"]: p["amount"] for k, p in events if k == "Fill"}
    assert amounts == {"af-buy": D("0.525"), "af-sell": D("1.025")}  # 0.5 held + bought
    assert ledger.cash >= 0


def test_a_post_only_limit_that_would_take_is_rejected_a_gtc_one_fills_at_once() -> None:
    ledger, fold = books(price="100"), WorkingOrders()

    post_only = place(limit("buy", "101", tif="PO"), ledger, fold, coid="af-po")
    gtc = place(limit("buy", "101"), ledger, fold, coid="af-gtc")
    resting = place(limit("buy", "99", tif="PO"), ledger, fold, coid="af-rest")

    assert post_only[0][0] == "OrderRejected" and "post-only" in post_only[0][1]["reason"]
    assert kinds(gtc) == [("OrderAck", "filled"), ("Fill", D("100"))]
    assert kinds(resting) == [("OrderAck", "open")]
    assert list(fold.working) == ["af-rest"]


def test_a_cancel_ends_a_working_order_and_is_refused_for_one_that_is_not() -> None:
    ledger, fold = books(), WorkingOrders()
    place(limit("buy", "95", amount="3"), ledger, fold)
    matched(fold, ledger, [candle(0, "96", "97", "90", volume="10")], fraction="0.1")
    request = OrderIntent(symbol="BTC/USDT", side="buy", amount=D(2), order_type="cancel",
                          cancels=COID)

    events = cancel(PlacedOrder(client_order_id="af-cancel", intent=request, market=MARKET),
                    fold)
    settle(events, ledger, fold)
    again = cancel(PlacedOrder(client_order_id="af-again", intent=request, market=MARKET),
                   fold)

    assert [(p["client_order_id"], p["status"], p.get("filled"), p.get("remaining"))
            for _, p in events] == [(COID, "canceled", D(1), D(2)),
                                    ("af-cancel", "closed", None, None)]
    assert fold.working == {}
    assert again[0][0] == "OrderRejected" and "not working" in again[0][1]["reason"]


def test_a_stop_market_triggers_on_the_range_and_fills_at_the_stop_or_a_worse_open() -> None:
    ledger, fold = books(held="2"), WorkingOrders()
    stop = OrderIntent(symbol="BTC/USDT", side="sell", amount=D(2), order_type="stop_market",
                       stop_price=D(90))
    assert kinds(place(stop, ledger, fold)) == [("OrderAck", "open")]

    events = matched(fold, ledger, [candle(0, "95", "96", "90.01"),  # not reached
                                    candle(5, "92", "93", "90", volume="10"),  # reaches 90
                                    candle(10, "85", "88", "80", volume="10")],  # gap: open
                     fraction="0.1")

    assert [(k, p.get("status"), p.get("triggered"), p.get("price"), p.get("amount"))
            for k, p in events] == [
        ("OrderAck", "open", "2024-01-01T00:10:00.000000Z", None, None),
        ("Fill", None, None, D(90), D(1)),
        ("Fill", None, None, D(85), D(1)),
        ("OrderAck", "filled", None, None, None)]


def test_a_stop_limit_triggers_then_fills_as_a_limit_from_the_next_candle() -> None:
    ledger, fold = books(), WorkingOrders()
    stop = OrderIntent(symbol="BTC/USDT", side="buy", amount=D(1), order_type="stop_limit",
                       stop_price=D(110), limit_price=D(111))
    place(stop, ledger, fold)

    events = matched(fold, ledger, [candle(0, "105", "112", "104"),  # triggers, no fill
                                    candle(5, "111", "112", "111"),  # a touch of 111
                                    candle(10, "112", "113", "110.99")])  # through

    assert kinds(events) == [("OrderAck", "open"), ("Fill", D(111)), ("OrderAck", "filled")]


def test_a_triggered_stop_stays_triggered_in_the_fold() -> None:
    ledger, fold = books(), WorkingOrders()
    stop = OrderIntent(symbol="BTC/USDT", side="buy", amount=D(1), order_type="stop_limit",
                       stop_price=D(110), limit_price=D(111))
    place(stop, ledger, fold)
    matched(fold, ledger, [candle(0, "105", "112", "104")])

    events = matched(fold, ledger, [candle(60, "112", "113", "110.99")],
                     since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))

    assert fold.working == {} and kinds(events) == [("Fill", D(111)), ("OrderAck", "filled")]


def test_recorded_candles_are_read_from_an_ohlcv_observation() -> None:
    data = {"candles": {"BTC/USDT": [{"time": "2024-01-01T00:00:00.000000Z",
                                      "close_time": "2024-01-01T00:05:00.000000Z",
                                      "open": "1", "high": "2", "low": "0.5", "close": "1.5",
                                      "volume": "10"}]}}

    assert recorded_candles(data) == {"BTC/USDT": [Candle(
        time=T0, close_time=T0 + timedelta(minutes=5), open=D(1), high=D(2), low=D("0.5"),
        volume=D(10))]}
    assert recorded_candles({"prices": {}}) is None


@pytest.mark.parametrize(("intent", "named"), [
    (dict(order_type="limit"), "a limit intent needs limit_price"),
    (dict(order_type="stop_market"), "a stop_market intent needs stop_price"),
    (dict(order_type="stop_limit", stop_price=D(1)), "a stop_limit intent needs limit_price"),
    (dict(order_type="cancel"), "a cancel intent needs cancels"),
    (dict(order_type="market", time_in_force="GTC"), "only a limit takes one"),
    (dict(order_type="limit", limit_price=D(1), time_in_force="DAY"), "only a limit takes"),
    (dict(order_type="iceberg"), "is not market, limit"),
])
def test_an_intent_lacking_what_its_type_needs_is_refused(intent: dict[str, Any],
                                                          named: str) -> None:
    with pytest.raises(ValueError, match=named):
        _check_type(OrderIntent(symbol="BTC/USDT", side="buy", amount=D(1), **intent))


def grid_config(tmp_path: Path, *, exchange: str, stop: bool) -> Path:
    """examples/grid.toml on the shipped sample, trading live on ``exchange``."""
    path = tmp_path / "grid.toml"
    text = (EXAMPLES / "grid.toml").read_text(encoding="utf-8").replace(
        "../data/sample/binance_spot_2024", str(SAMPLE_PRICES))
    path.write_text(text.replace("stop = true", f"stop = {str(stop).lower()}")
                    + f'\n[exchange]\nid = "{exchange}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(("exchange", "stop"), [("binance", True), ("okx", False)])
def test_resting_limits_and_stops_pass_the_live_check_where_the_exchange_takes_them(
        tmp_path: Path, exchange: str, stop: bool) -> None:
    env = {"AGENTFUND_API_KEY": "k", "AGENTFUND_SECRET": "s", "AGENTFUND_PASSWORD": "p"}

    needed = check_live(load_config(grid_config(tmp_path, exchange=exchange, stop=stop)), env)

    assert set(needed) >= {"apiKey", "secret"}


def test_a_stop_an_exchange_cannot_take_is_refused_live_at_start_in_one_line(
        tmp_path: Path) -> None:
    path = grid_config(tmp_path, exchange="okx", stop=True)

    with pytest.raises(ConfigError) as refused:
        check_live(load_config(path), {"AGENTFUND_API_KEY": "k", "AGENTFUND_SECRET": "s",
                                       "AGENTFUND_PASSWORD": "p"})

    assert str(refused.value) == (
        f"{path}: actors.grid.strategy: grid may send stop_market orders, but okx cannot "
        "take stop_market orders (it takes market, limit:GTC, limit:IOC, limit:FOK, "
        "limit:PO)")


def test_a_fill_or_kill_limit_fills_whole_or_is_rejected() -> None:
    ledger, fold = books(cash="150", price="100"), WorkingOrders()

    whole = place(limit("buy", "101", amount="1", tif="FOK"), ledger, fold, coid="af-whole")
    part = place(limit("buy", "101", amount="1", tif="FOK"), ledger, fold, coid="af-part")

    assert kinds(whole) == [("OrderAck", "filled"), ("Fill", D("100"))]
    assert part[0][0] == "OrderRejected"
    assert part[0][1]["reason"] == "fill-or-kill: only 0.498 of 1 can fill"
    assert fold.working == {} and fold.pending == {}
