"""Built-in strategies; importing this package registers them."""

from strategies import rebalance, template

__all__ = ["rebalance", "template"]
