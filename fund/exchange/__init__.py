"""Exchange adapters: where intents become orders (paper simulation or a real venue)."""
