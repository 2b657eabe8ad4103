"""The share register under random subscriptions, redemptions, trades and price moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fund.accounting.register import Register, Request, Terms
from fund.canonical import dumps, format_ts, loads

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = Decimal("0.01")
INVESTORS = ("alice", "bob", "carol")


class Fund:
    """A one-asset fund around a register: cash, a position, a price, a clock."""

    def __init__(self, terms: Terms) -> None:
        self.register = Register(terms=terms)
        self.cash = Decimal(0)
        self.held = Decimal(0)
        self.price = Decimal(100)
        self.now = T0
        self.seq = 0

    @property
    def assets(self) -> Decimal:
        return self.cash + self.held * self.price

    def ask(self, investor: str, kind: str, amount: Decimal | None = None,
            units: Decimal | None = None) -> None:
        self.seq += 1
        self.now += timedelta(minutes=1)
        self.register.request(Request(seq=self.seq, investor=investor, kind=kind,
                                      requested=format_ts(self.now), amount=amount, units=units))

    def value(self, hours: int = 24) -> dict:
        self.now += timedelta(hours=hours)
        payload = loads(dumps(self.register.value(self.now, self.assets, self.cash)))
        self.cash += Decimal(payload["cash_in"]) - Decimal(payload["cash_out"])
        self.register.apply(payload)
        return payload

    def net(self) -> Decimal:
        return self.assets - self.register.fees_owed


def price_now(fund: Fund) -> Decimal:
    """NAV per share recomputed from the books (independently of the register's figure)."""
    units = fund.register.units
    return fund.net() / units if units else Decimal(0)


ops = st.lists(st.one_of(
    st.tuples(st.just("subscribe"), st.sampled_from(INVESTORS),
              st.decimals(min_value=1, max_value=100_000, places=2)),
    st.tuples(st.just("redeem-units"), st.sampled_from(INVESTORS),
              st.decimals(min_value=Decimal("0.01"), max_value=1, places=2)),
    st.tuples(st.just("redeem-amount"), st.sampled_from(INVESTORS),
              st.decimals(min_value=1, max_value=5_000, places=2)),
    st.tuples(st.just("move"), st.just(""), st.decimals(min_value=Decimal("0.5"),
                                                        max_value=Decimal("1.6"), places=3)),
    st.tuples(st.just("trade"), st.just(""), st.decimals(min_value=0, max_value=1, places=2)),
    st.tuples(st.just("value"), st.just(""), st.integers(min_value=1, max_value=24 * 90)),
), min_size=1, max_size=40)

terms = st.builds(Terms, management_fee=st.sampled_from([Decimal(0), Decimal("0.02")]),
                  performance_fee=st.sampled_from([Decimal(0), Decimal("0.2")]))


@settings(max_examples=150, deadline=None)
@given(terms, ops)
def test_units_times_price_is_the_fund_and_nobody_pays_for_anyone_else(
        terms: Terms, steps: list[tuple[str, str, Decimal | int]]) -> None:
    fund = Fund(terms)
    for kind, investor, x in steps:
        if kind == "subscribe":
            fund.ask(investor, "subscribe", amount=Decimal(x))
        elif kind == "redeem-units":
            held = fund.register.holdings.get(investor)
            if held and held.units:
                fund.ask(investor, "redeem", units=(held.units * Decimal(x)).quantize(
                    terms.unit_step))
        elif kind == "redeem-amount":
            fund.ask(investor, "redeem", amount=Decimal(x))
        elif kind == "move":
            fund.price = (fund.price * Decimal(x)).quantize(Decimal("0.0001"))
        elif kind == "trade":  # invest a share of the cash, or sell a share of the position
            if Decimal(x) <= Decimal("0.5"):
                spend = (fund.cash * Decimal(x) * 2).quantize(STEP, "ROUND_DOWN")
                fund.held += spend / fund.price
                fund.cash -= spend
            else:
                sold = fund.held * (Decimal(x) - Decimal("0.5")) * 2
                fund.held -= sold
                fund.cash += sold * fund.price
        else:
            _value_and_check(fund, int(x))
    _value_and_check(fund, 24)


def _value_and_check(fund: Fund, hours: int) -> None:
    before = {k: h.units for k, h in fund.register.holdings.items()}
    payload = fund.value(hours)
    price = Decimal(payload["price"])
    dealt = {d["investor"] for d in payload["deals"]}
    charged = {k for k, c in payload["investors"].items() if "fee_units" in c}
    units = fund.register.units
    assert fund.cash >= 0
    # shares x NAV per share = net assets after fees (price recomputed after dealing)
    if units:
        assert abs(units * price_now(fund).quantize(Decimal("1e-10")) - fund.net()) <= STEP
    # an investor who did not deal (and paid no fee) keeps the value they had at the
    # dealing price: each deal may leave at most one currency step in the fund, never less
    deals = max(len(payload["deals"]), 1)
    for investor, held in before.items():
        if investor in dealt or investor in charged or not held:
            continue
        assert fund.register.holdings[investor].units == held
        change = held * price_now(fund) - held * price
        assert -STEP <= change <= STEP * deals, (investor, change)
    # fees are paid before any redemption: fees still owed means no cash was left for them
    if Decimal(payload["fees_owed"]):
        assert not any("paid" in d and Decimal(d["paid"]) for d in payload["deals"])
        assert fund.cash == 0


def test_a_hand_checked_year_of_fees_and_dealing() -> None:
    """2 % management and 20 % performance over a high-water mark, by hand."""
    fund = Fund(Terms(management_fee=Decimal("0.02"), performance_fee=Decimal("0.2")))
    fund.ask("alice", "subscribe", amount=Decimal(1000))
    first = fund.value(hours=1)
    assert first["price"] == "1" and first["investors"]["alice"]["units"] == "1000.00000000"
    assert fund.cash == 1000

    fund.held, fund.cash = Decimal(10), Decimal(0)  # all in the asset at 100
    fund.price = Decimal(121)  # +21 % in a year
    fund.ask("bob", "subscribe", amount=Decimal(500))
    fund.now += timedelta(days=365) - timedelta(hours=24) - timedelta(minutes=1)
    year = fund.value(hours=24)
    # management fee: 1210 x 2 % x 1 year = 24.20; price before performance fee 1.1858
    assert year["management_fee"] == "24.20"
    assert year["price_before_fees"] == "1.1858000000"
    # performance fee: 20 % x (1.1858 - 1) x 1000 units = 37.16; 37.16 / 1.1858 units go
    assert year["performance_fee"] == "37.16"
    assert Decimal(year["investors"]["alice"]["units"]) == Decimal(1000) - Decimal(
        "31.33749368")  # 37.16 / 1.1858 = 31.337493675... rounded up to 1e-8
    # bob's 500 arrives and pays both fees
    assert year["fees_paid"] == "61.36" and Decimal(year["fees_owed"]) == 0
    assert year["price"] == "1.1858000000"  # alice's fee units leave the price unchanged
    assert Decimal(year["investors"]["bob"]["units"]) == (Decimal(500) / Decimal(
        "1.1858")).quantize(Decimal("1e-8"), "ROUND_DOWN")
    assert fund.cash == Decimal("438.64")
    after = fund.value(hours=24)
    # a day later: (1210 + 438.64) x 2 % / 365 = 0.09, paid from cash
    assert after["management_fee"] == "0.09" and after["fees_paid"] == "0.09"
