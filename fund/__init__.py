"""agentfund: autonomous, verifiable trading funds."""

__version__ = "0.1.0"
