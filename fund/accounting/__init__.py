"""Fund accounting: investors, units at NAV per share, fees, statements."""
