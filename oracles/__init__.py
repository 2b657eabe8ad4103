"""Oracles: the runtime's readers of the outside world (prices, pages, feeds)."""
