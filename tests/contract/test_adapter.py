"""The exchange-adapter contract: one suite every Adapter passes.

:class:`AdapterContract` holds the tests and one hook, ``create_adapter(fee_rate,
slippage_bps)``; each adapter subclasses it (the paper adapter, and the ccxt adapter with
the real binance and okx clients against the local fakes of those exchanges). The venue is
assumed to fill a market order at the portfolio's observed price, moved by the slippage, so
expected prices, amounts and fees are computed here, independently, from the order and the
portfolio.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fund.exchange.base import Adapter, Event, PlacedOrder
from fund.exchange.paper import PaperAdapter
from fund.ledger import PortfolioView
from fund.markets import Market
from fund.messages import FILL, ORDER_ACK, ORDER_REJECTED, OrderIntent

D = Decimal
FEE_RATE = D("0.001")
NO_SLIPPAGE = D("0")
SYMBOL = "BTC/USDT"
COID = "af-0123456789abcdef0123456789abc"


def market(*, amount_step: str | None = None, price_step: str | None = None,
           min_amount: str | None = None, min_notional: str | None = None) -> Market:
    """Return the BTC/USDT market with the given limits (strings, as configs give them)."""
    def dec(value: str | None) -> Decimal | None:
        return None if value is None else D(value)

    return Market(symbol=SYMBOL, base="BTC", quote="USDT", amount_step=dec(amount_step),
                  price_step=dec(price_step), min_amount=dec(min_amount),
                  min_notional=dec(min_notional))


def portfolio(*, cash: str | Decimal = "100000", held: str | Decimal = "0",
              price: str | Decimal | None = "100") -> PortfolioView:
    """Return a USDT portfolio holding ``held`` BTC, with BTC/USDT last seen at ``price``."""
    prices: Mapping[str, Decimal] = {} if price is None else {SYMBOL: D(price)}
    return PortfolioView(quote="USDT", cash=D(cash), positions=MappingProxyType({SYMBOL: D(held)}),
                         avg_costs=MappingProxyType({SYMBOL: D(0)}),
                         prices=MappingProxyType(dict(prices)), fees_paid=D(0))


def order(side: str, amount: str | Decimal, *, mkt: Market | None = None,
          limit: str | None = None, coid: str = COID) -> PlacedOrder:
    """Return a placed market (or, with ``limit``, limit) order."""
    intent = OrderIntent(symbol=SYMBOL, side=side,  # type: ignore[arg-type]
                         amount=D(amount), order_type="limit" if limit else "market",
                         limit_price=None if limit is None else D(limit))
    return PlacedOrder(client_order_id=coid, intent=intent, market=mkt or market())


def the_fill(events: list[Event]) -> dict[str, Any]:
    """Assert the events are an OrderAck then one Fill for COID; return the fill."""
    assert [kind for kind, _ in events] == [ORDER_ACK, FILL], events
    ack, fill = events[0][1], events[1][1]
    assert ack["client_order_id"] == COID
    assert fill["client_order_id"] == COID
    assert fill["symbol"] == SYMBOL
    return fill


def the_rejection(events: list[Event], coid: str = COID) -> str:
    """Assert the events are exactly one OrderRejected for the order; return its reason."""
    assert [kind for kind, _ in events] == [ORDER_REJECTED], events
    payload = events[0][1]
    assert payload["client_order_id"] == coid
    assert isinstance(payload["reason"], str) and payload["reason"]
    return str(payload["reason"])


def exact_cost(amount: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    """amount×price + fee with enough precision that nothing is rounded."""
    with localcontext() as ctx:
        ctx.prec = 200
        return amount * price + fee


cash_amounts = st.decimals(min_value=D("0.01"), max_value=D("100000000"), places=8)
prices = st.decimals(min_value=D("0.00000001"), max_value=D("100000"), places=8)
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("10000"), places=8)
fee_rates = st.sampled_from(["0", "0.0001", "0.00075", "0.001", "0.0025", "0.01"]).map(D)
slippages = st.sampled_from(["0", "1", "2.5", "10", "33"]).map(D)
steps = st.sampled_from([None, "1", "0.1", "0.001", "0.00001", "0.00000001"])
ticks = st.sampled_from([None, "0.01", "0.00001"])


class AdapterContract:
    """Behaviour every exchange adapter must show; subclass and implement the hook."""

    def create_adapter(self, fee_rate: Decimal = FEE_RATE,
                       slippage_bps: Decimal = NO_SLIPPAGE) -> Adapter:
        """Return an adapter charging ``fee_rate`` and slipping ``slippage_bps``."""
        raise NotImplementedError

    # --- fills ----------------------------------------------------------------------------

    def test_market_buy_within_means_fills_in_full(self) -> None:
        adapter = self.create_adapter(fee_rate=D("0.001"))

        events = adapter.submit(order("buy", "0.5"), portfolio(cash="1000", price="100"))

        fill = the_fill(events)
        assert fill["side"] == "buy"
        assert fill["amount"] == D("0.5")
        assert fill["price"] == D("100")
        assert fill["fee"] == D("0.05")
        assert fill["fee_currency"] == "USDT"

    def test_market_sell_within_holding_fills_in_full(self) -> None:
        adapter = self.create_adapter(fee_rate=D("0.001"))

        events = adapter.submit(order("sell", "0.25"), portfolio(held="1", price="40000"))

        fill = the_fill(events)
        assert fill["side"] == "sell"
        assert fill["amount"] == D("0.25")
        assert fill["price"] == D("40000")
        assert fill["fee"] == D("10")

    def test_fee_is_notional_times_fee_rate_exactly(self) -> None:
        adapter = self.create_adapter(fee_rate=D("0.00075"))

        fill = the_fill(adapter.submit(order("buy", "0.123456"), portfolio(price="43210.12")))

        # notional 0.123456 × 43210.12 = 5334.54857472; × 0.00075 = 4.000911431040
        assert fill["price"] * fill["amount"] == D("5334.54857472")
        assert fill["fee"] == D("4.000911431040")

    def test_buy_beyond_cash_is_scaled_down_to_what_cash_pays(self) -> None:
        adapter = self.create_adapter(fee_rate=D("0.001"))
        mkt = market(amount_step="0.01")

        events = adapter.submit(order("buy", "20", mkt=mkt), portfolio(cash="1000", price="100"))

        fill = the_fill(events)
        # 1000 / (100 × 1.001) = 9.99000…, truncated to the 0.01 lot: 9.99 → 999 + 0.999
        assert fill["amount"] == D("9.99")
        assert exact_cost(fill["amount"], fill["price"], fill["fee"]) == D("999.999")

    def test_buy_at_the_edge_of_the_cash_is_exact(self) -> None:
        # Amount and price with 8 decimals and cash as the ledger holds it (28 digits), just
        # below the full order's cost: the exact cost exceeds the cash by ~5e-20.
        adapter = self.create_adapter(fee_rate=D("0.00075"))
        amount, price = D("5968.48553794"), D("18321.00366223")
        cash = D("109430656.8826144557587137046")

        fill = the_fill(adapter.submit(order("buy", amount), portfolio(cash=cash, price=price)))

        with localcontext() as ctx:
            ctx.prec = 200
            notional = fill["amount"] * fill["price"]
            assert fill["fee"] == notional * D("0.00075")
            assert notional + fill["fee"] <= cash

    def test_sell_beyond_holding_is_capped_at_the_holding(self) -> None:
        adapter = self.create_adapter()

        fill = the_fill(adapter.submit(order("sell", "5"), portfolio(held="1.5", price="10")))

        assert fill["amount"] == D("1.5")

    @pytest.mark.parametrize(("side", "amount", "step", "expected"), [
        ("buy", "0.1239", "0.001", "0.123"),
        ("buy", "0.99999", "0.1", "0.9"),
        ("sell", "0.1239", "0.001", "0.123"),
        ("sell", "7.9", "1", "7"),
    ])
    def test_amount_is_truncated_to_the_lot_size(self, side: str, amount: str, step: str,
                                                  expected: str) -> None:
        adapter = self.create_adapter()

        events = adapter.submit(order(side, amount, mkt=market(amount_step=step)),
                                portfolio(held="100", price="10"))

        assert the_fill(events)["amount"] == D(expected)

    @pytest.mark.parametrize(("side", "bps", "tick", "expected"), [
        ("buy", "25", None, "100.25"),
        ("sell", "25", None, "99.75"),
        ("buy", "0", None, "100"),
        ("buy", "1.5", None, "100.015"),
        ("sell", "100", None, "99"),
        ("buy", "7", "0.05", "100.10"),  # 100.07 up to a 0.05 tick: never better than seen
        ("sell", "7", "0.05", "99.90"),  # 99.93 down to a 0.05 tick
    ])
    def test_slippage_moves_the_price_against_the_order(self, side: str, bps: str,
                                                        tick: str | None, expected: str) -> None:
        adapter = self.create_adapter(fee_rate=D("0.001"), slippage_bps=D(bps))

        events = adapter.submit(order(side, "1", mkt=market(price_step=tick)),
                                portfolio(held="10", price="100"))

        fill = the_fill(events)
        assert fill["price"] == D(expected)
        assert fill["fee"] == D(expected) * D("0.001")

    # --- limit orders ---------------------------------------------------------------------

    @pytest.mark.parametrize(("side", "limit"), [
        ("buy", "105"), ("buy", "100"), ("sell", "95"), ("sell", "100"),
    ])
    def test_marketable_limit_order_fills_at_no_worse_than_the_limit(self, side: str,
                                                                     limit: str) -> None:
        adapter = self.create_adapter()

        fill = the_fill(adapter.submit(order(side, "1", limit=limit),
                                       portfolio(held="2", price="100")))

        assert fill["amount"] == D("1")
        assert fill["price"] == D("100")
        if side == "buy":
            assert fill["price"] <= D(limit)
        else:
            assert fill["price"] >= D(limit)

    @pytest.mark.parametrize(("side", "limit"), [("buy", "95"), ("sell", "105")])
    def test_limit_order_away_from_the_market_is_rejected(self, side: str, limit: str) -> None:
        adapter = self.create_adapter()

        reason = the_rejection(adapter.submit(order(side, "1", limit=limit),
                                              portfolio(held="2", price="100")))

        assert limit in reason

    def test_limit_buy_counts_the_slippage(self) -> None:
        adapter = self.create_adapter(slippage_bps=D("50"))  # fills at 100.5

        rejected = adapter.submit(order("buy", "1", limit="100.4"), portfolio(price="100"))
        filled = adapter.submit(order("buy", "1", limit="100.5"), portfolio(price="100"))

        the_rejection(rejected)
        assert the_fill(filled)["price"] == D("100.5")

    # --- rejections -----------------------------------------------------------------------

    def test_below_min_notional_is_rejected_naming_the_limit(self) -> None:
        adapter = self.create_adapter()

        reason = the_rejection(adapter.submit(order("buy", "0.05", mkt=market(min_notional="10")),
                                              portfolio(price="100")))

        assert "notional" in reason
        assert "10" in reason

    def test_below_min_amount_is_rejected_naming_the_limit(self) -> None:
        adapter = self.create_adapter()
        placed = order("buy", "0.0005", mkt=market(min_amount="0.001"))

        reason = the_rejection(adapter.submit(placed, portfolio(price="100")))

        assert "amount" in reason
        assert "0.001" in reason

    def test_scaled_down_buy_below_min_notional_is_rejected(self) -> None:
        adapter = self.create_adapter()

        events = adapter.submit(order("buy", "1", mkt=market(min_notional="10")),
                                portfolio(cash="5", price="100"))

        assert "notional" in the_rejection(events)

    def test_no_observed_price_is_rejected(self) -> None:
        adapter = self.create_adapter()

        reason = the_rejection(adapter.submit(order("buy", "1"), portfolio(price=None)))

        assert SYMBOL in reason
        assert "price" in reason

    @pytest.mark.parametrize(("name", "placed", "book"), [
        ("zero_amount", order("buy", "0"), portfolio()),
        ("negative_amount", order("buy", "-1"), portfolio()),
        ("below_one_lot", order("buy", "0.0009", mkt=market(amount_step="0.001")), portfolio()),
        ("no_cash", order("buy", "1"), portfolio(cash="0")),
        ("sell_nothing_held", order("sell", "1"), portfolio(held="0")),
        ("sell_less_than_a_lot_held", order("sell", "1", mkt=market(amount_step="1")),
         portfolio(held="0.5")),
        ("no_price", order("sell", "1"), portfolio(held="1", price=None)),
        ("limit_not_marketable", order("buy", "1", limit="1"), portfolio()),
        ("min_notional", order("buy", "1", mkt=market(min_notional="1000")), portfolio()),
        ("min_amount", order("sell", "1", mkt=market(min_amount="2")), portfolio(held="5")),
    ])
    def test_refused_order_is_an_event_never_an_exception(self, name: str, placed: PlacedOrder,
                                                          book: PortfolioView) -> None:
        adapter = self.create_adapter()

        events = adapter.submit(placed, book)

        the_rejection(events)

    # --- properties -----------------------------------------------------------------------

    def test_buy_never_spends_more_than_the_cash(self) -> None:
        # given() wraps a closure so that each adapter's subclass gets its own test function.
        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        @given(cash=cash_amounts, price=prices, amount=amounts, fee_rate=fee_rates,
               slippage=slippages, step=steps, tick=ticks)
        def check(cash: Decimal, price: Decimal, amount: Decimal, fee_rate: Decimal,
                  slippage: Decimal, step: str | None, tick: str | None) -> None:
            adapter = self.create_adapter(fee_rate=fee_rate, slippage_bps=slippage)
            mkt = market(amount_step=step, price_step=tick)

            events = adapter.submit(order("buy", amount, mkt=mkt),
                                    portfolio(cash=cash, price=price))

            if events[0][0] == ORDER_REJECTED:
                the_rejection(events)
                return
            fill = the_fill(events)
            assert 0 < fill["amount"] <= amount
            assert exact_cost(fill["amount"], fill["price"], fill["fee"]) <= cash
            assert fill["fee"] >= 0
            if step is not None:
                assert fill["amount"] % D(step) == 0

        check()

    def test_buy_that_cash_covers_is_not_scaled_down(self) -> None:
        @settings(max_examples=200, deadline=None)
        @given(price=prices, amount=amounts, fee_rate=fee_rates)
        def check(price: Decimal, amount: Decimal, fee_rate: Decimal) -> None:
            adapter = self.create_adapter(fee_rate=fee_rate)
            with localcontext() as ctx:
                ctx.prec = 200
                cost = amount * price * (1 + fee_rate)

            fill = the_fill(adapter.submit(order("buy", amount), portfolio(cash=cost,
                                                                           price=price)))

            assert fill["amount"] == amount
            assert exact_cost(fill["amount"], fill["price"], fill["fee"]) <= cost

        check()

    def test_sell_never_exceeds_the_holding(self) -> None:
        @settings(max_examples=200, deadline=None)
        @given(held=amounts | st.just(D(0)), price=prices, amount=amounts, fee_rate=fee_rates,
               slippage=slippages, step=steps)
        def check(held: Decimal, price: Decimal, amount: Decimal, fee_rate: Decimal,
                  slippage: Decimal, step: str | None) -> None:
            adapter = self.create_adapter(fee_rate=fee_rate, slippage_bps=slippage)
            mkt = market(amount_step=step)

            events = adapter.submit(order("sell", amount, mkt=mkt),
                                    portfolio(held=held, price=price, cash="0"))

            if events[0][0] == ORDER_REJECTED:
                the_rejection(events)
                return
            fill = the_fill(events)
            assert 0 < fill["amount"] <= min(amount, held)
            assert fill["price"] <= price
            if step is not None:
                assert fill["amount"] % D(step) == 0

        check()

    def test_submit_never_raises_and_fills_respect_the_limits(self) -> None:
        @settings(max_examples=300, deadline=None)
        @given(side=st.sampled_from(["buy", "sell"]),
               amount=st.decimals(min_value=-10, max_value=D("10000"), places=8),
               price=prices | st.just(D(0)) | st.none(),
               cash=cash_amounts | st.just(D(0)), held=amounts | st.just(D(0)),
               limit=st.none() | prices, step=steps, tick=ticks,
               min_amount=st.sampled_from([None, "0.001", "1"]),
               min_notional=st.sampled_from([None, "5", "100"]),
               fee_rate=fee_rates, slippage=slippages)
        def check(side: str, amount: Decimal, price: Decimal | None, cash: Decimal,
                  held: Decimal, limit: Decimal | None, step: str | None, tick: str | None,
                  min_amount: str | None, min_notional: str | None, fee_rate: Decimal,
                  slippage: Decimal) -> None:
            adapter = self.create_adapter(fee_rate=fee_rate, slippage_bps=slippage)
            mkt = market(amount_step=step, price_step=tick, min_amount=min_amount,
                         min_notional=min_notional)
            placed = order(side, amount, mkt=mkt, limit=None if limit is None else str(limit))

            events = adapter.submit(placed, portfolio(cash=cash, held=held, price=price))

            if events and events[0][0] == ORDER_REJECTED:
                the_rejection(events)
                return
            fill = the_fill(events)
            assert price is not None
            assert 0 < fill["amount"] <= amount
            if min_amount is not None:
                assert fill["amount"] >= D(min_amount)
            if min_notional is not None:
                assert exact_cost(fill["amount"], fill["price"], D(0)) >= D(min_notional)
            if limit is not None:
                assert fill["price"] <= limit if side == "buy" else fill["price"] >= limit
            if side == "sell":
                assert fill["amount"] <= held
            else:
                assert exact_cost(fill["amount"], fill["price"], fill["fee"]) <= cash

        check()


class TestPaperAdapter(AdapterContract):
    """The paper adapter: fills at once at the observed price."""

    def create_adapter(self, fee_rate: Decimal = FEE_RATE,
                       slippage_bps: Decimal = NO_SLIPPAGE) -> Adapter:
        return PaperAdapter(fee_rate=fee_rate, slippage_bps=slippage_bps)


# --- the ccxt adapter, with the real ccxt binance client, against a local fake exchange --

_NO_CASH_SCALING = ("a live adapter does not scale a buy down to the cash: it cannot know the "
                    "fill price before the fill, so the exchange refuses an unaffordable order")
_NO_SLIPPAGE_PARAMETER = ("slippage is whatever the live venue's book gives, not a parameter the "
                          "caller sets")


class _VenueMirror(Adapter):
    """Set the fake venue to the portfolio (price, balances) and the fee rate, then submit.

    The contract assumes a venue that fills at the observed price and charges ``fee_rate``;
    this makes the fake exchange that venue before each order, so that the real adapter and
    the real ccxt client are what is under test.
    """

    def __init__(self, venue: Any, live: Adapter, fee_rate: Decimal,
                 market_id: str = "BTCUSDT") -> None:
        self.venue, self.live, self.fee_rate = venue, live, fee_rate
        self.market_id = market_id

    def submit(self, order: PlacedOrder, portfolio: PortfolioView) -> list[Event]:
        self.venue.reset(prices={self.market_id: portfolio.prices.get(SYMBOL)},
                         balances={"USDT": portfolio.cash, "BTC": portfolio.holding(SYMBOL)},
                         fee_rate=self.fee_rate)
        return self.live.submit(order, portfolio)


class TestCcxtAdapter(AdapterContract):
    """The ccxt adapter: the binance client against a fake exchange with the finest steps.

    The fake's BTCUSDT has 1e-8 lot and tick sizes and no minimum notional, so the limits
    under test are the configured market's, which the adapter applies on top of the venue's.
    """

    venue: Any = None
    live: Adapter | None = None

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _fake_exchange(cls) -> Any:  # a generator: the fake runs for the whole class
        from fund.exchange.ccxt_adapter import CcxtAdapter
        from tests.integration.fake_exchange import FakeExchange, Symbol

        fine = D("0.00000001")
        symbols = {"BTCUSDT": Symbol("BTC", "USDT", step=fine, tick=fine, min_qty=fine,
                                     min_notional=D(0))}
        with FakeExchange(symbols) as venue:
            cls.venue = venue
            cls.live = CcxtAdapter(exchange_id="binance", api_key="contract-key",
                                   secret="contract-secret", urls={"api": venue.url},
                                   enable_rate_limit=False, retries=0)
            yield
            cls.venue = cls.live = None

    def create_adapter(self, fee_rate: Decimal = FEE_RATE,
                       slippage_bps: Decimal = NO_SLIPPAGE) -> Adapter:
        assert self.live is not None
        return _VenueMirror(self.venue, self.live, fee_rate)

    @pytest.mark.skip(reason=_NO_CASH_SCALING)
    def test_buy_beyond_cash_is_scaled_down_to_what_cash_pays(self) -> None: ...

    @pytest.mark.skip(reason=_NO_CASH_SCALING)
    def test_buy_at_the_edge_of_the_cash_is_exact(self) -> None: ...

    @pytest.mark.skip(reason=_NO_CASH_SCALING)
    def test_scaled_down_buy_below_min_notional_is_rejected(self) -> None: ...

    @pytest.mark.skip(reason=_NO_SLIPPAGE_PARAMETER)
    def test_slippage_moves_the_price_against_the_order(self) -> None: ...

    @pytest.mark.skip(reason=_NO_SLIPPAGE_PARAMETER)
    def test_limit_buy_counts_the_slippage(self) -> None: ...

    @pytest.mark.skip(reason="a live venue prices a market order itself; with no observed "
                      "price the order is still sent (the fake refuses it for lack of "
                      "liquidity, see test_refused_order_is_an_event_never_an_exception)")
    def test_no_observed_price_is_rejected(self) -> None: ...


class TestCcxtAdapterOkx(TestCcxtAdapter):
    """The ccxt adapter: the okx client against the fake OKX with the finest sizes (its
    placement answers with ids only, so every fill is read back by client order id)."""

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _fake_exchange(cls) -> Any:  # a generator: the fake runs for the whole class
        from fund.exchange.ccxt_adapter import CcxtAdapter
        from tests.integration.fake_okx import FakeOkx, Instrument

        fine = D("0.00000001")
        instruments = {"BTC-USDT": Instrument("BTC", "USDT", lot=fine, tick=fine,
                                              min_size=fine)}
        accounts = {"contract-key": ("contract-secret", "contract-pass")}
        with FakeOkx(accounts, instruments=instruments) as venue:
            cls.venue = venue
            cls.live = CcxtAdapter(exchange_id="okx", api_key="contract-key",
                                   secret="contract-secret", password="contract-pass",
                                   urls={"api": venue.url}, enable_rate_limit=False,
                                   retries=0)
            yield
            cls.venue = cls.live = None

    def create_adapter(self, fee_rate: Decimal = FEE_RATE,
                       slippage_bps: Decimal = NO_SLIPPAGE) -> Adapter:
        assert self.live is not None
        return _VenueMirror(self.venue, self.live, fee_rate, market_id="BTC-USDT")
