"""agentfund's built-in strategies, oracles and backtesting, under the project's own name.

The repository keeps them in its top-level folders (``strategies/``, ``oracles/``,
``backtests/``); they are installed and imported as ``agentfund.strategies``,
``agentfund.oracles`` and ``agentfund.backtests`` (the entries here link to those
folders), so a user's own ``strategies`` or ``oracles`` package can never shadow them.
"""
