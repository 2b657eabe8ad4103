"""Built-in strategies, installed as ``agentfund.strategies``.

They are found by name through the ``agentfund.strategies`` entry points (pyproject.toml),
as a third party's published strategies are: nothing here is imported until a strategy of
that name is asked for.
"""
