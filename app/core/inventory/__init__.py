"""Stock and what can be sold: the stock ledger (the only writer of stock tables), available-to-promise, the catalogue."""
