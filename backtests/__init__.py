"""Backtesting: history as oracles, a simulated clock, metrics and reports."""
