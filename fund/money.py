"""Exact money arithmetic for orders and fills.

Amounts and prices carry up to 28 significant digits each; their product and a fee on it
need more. Inside :data:`EXACT` those products are exact, so "notional + fee ≤ cash" is a
true statement about the money and not about rounding.
"""

from decimal import ROUND_HALF_EVEN, Context

EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)
