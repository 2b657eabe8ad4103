"""Built-in strategies; importing this package registers them."""

from strategies import mention_sentiment, rebalance, template

__all__ = ["mention_sentiment", "rebalance", "template"]
