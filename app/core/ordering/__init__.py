"""Orders from capture to a sourced plan: the payloads taken in, the order state machine, sourcing and its rules, distances and opening hours."""
