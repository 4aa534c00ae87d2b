"""Where each demo order is fulfilled and how far its fulfilment has gone.

One row per order: (location, delivery method, final status, twist). Twists:
- "review": the order is flagged for review;
- "reroute:<status>": the store rejects it (out of stock), the warehouse takes it over
  and brings it to <status>;
- "cancel": the customer cancels it after the store accepted it;
- "split:<status>": a ship order split between the store and the warehouse, whose part
  reaches <status>;
- click & collect after staging: "arrived" (the customer said "I'm here"), "partial" (collected but one item
  refused: it waits on the put-back list), "putback" (expired, then put back on sale); final "expired" (nobody
  came: its units wait off sale on the put-back list);
- "transfer:<from>": the pickup store lacks the stock, <from> picks and packs it and sends it (final "packed":
  in transit, on the pickup store's Incoming list; "ready_for_pickup": received and staged there).
PAR01 and MIL01 get work in every tab of the queue (to accept, to pick, to pack, to ship,
ready for pickup) for the demo associates.
"""

SHIP, COLLECT = "ship", "collect"

# fmt: off
SCENARIOS: list[tuple[str, str, str, str]] = [
    # Paris Rivoli: the flagship the demo associate signs in to
    ("PAR01", SHIP, "created", ""), ("PAR01", SHIP, "created", "review"), ("PAR01", COLLECT, "created", ""),
    ("PAR01", COLLECT, "created", ""), ("PAR01", SHIP, "accepted", ""), ("PAR01", COLLECT, "accepted", ""),
    ("PAR01", SHIP, "picking", ""), ("PAR01", SHIP, "picked", ""), ("PAR01", COLLECT, "picked", ""),
    ("PAR01", SHIP, "packed", ""), ("PAR01", SHIP, "packed", ""), ("PAR01", COLLECT, "ready_for_pickup", ""),
    ("PAR01", COLLECT, "ready_for_pickup", ""), ("PAR01", SHIP, "shipped", ""), ("PAR01", SHIP, "shipped", ""),
    ("PAR01", COLLECT, "collected", ""), ("PAR01", SHIP, "rejected", "reroute:accepted"),
    ("PAR01", COLLECT, "accepted", "cancel"), ("PAR01", SHIP, "shipped", "split:packed"),
    # Milano Corso Vittorio Emanuele
    ("MIL01", SHIP, "created", ""), ("MIL01", COLLECT, "created", ""), ("MIL01", COLLECT, "created", ""),
    ("MIL01", SHIP, "accepted", ""), ("MIL01", COLLECT, "accepted", ""), ("MIL01", COLLECT, "picking", ""),
    ("MIL01", SHIP, "picked", ""), ("MIL01", SHIP, "packed", ""), ("MIL01", SHIP, "packed", ""),
    ("MIL01", COLLECT, "ready_for_pickup", ""), ("MIL01", COLLECT, "ready_for_pickup", ""),
    ("MIL01", SHIP, "shipped", ""), ("MIL01", COLLECT, "collected", ""), ("MIL01", SHIP, "accepted", "cancel"),
    ("MIL01", SHIP, "rejected", "reroute:created"),
    # The other stores
    ("LYO01", SHIP, "created", ""), ("LYO01", COLLECT, "accepted", ""), ("LYO01", SHIP, "packed", ""),
    ("LYO01", COLLECT, "ready_for_pickup", ""), ("LYO01", SHIP, "shipped", ""),
    ("LYO01", SHIP, "shipped", "split:shipped"),
    ("MRS01", COLLECT, "created", ""), ("MRS01", SHIP, "picked", ""), ("MRS01", SHIP, "shipped", ""),
    ("MRS01", SHIP, "rejected", "reroute:created"), ("MRS01", COLLECT, "collected", ""),
    ("LIL01", SHIP, "created", ""), ("LIL01", COLLECT, "picking", ""), ("LIL01", COLLECT, "ready_for_pickup", ""),
    ("LIL01", COLLECT, "collected", ""),
    ("BDX01", COLLECT, "created", ""), ("BDX01", SHIP, "accepted", ""), ("BDX01", SHIP, "packed", ""),
    ("BDX01", SHIP, "shipped", ""), ("BDX01", COLLECT, "created", "cancel"),
    ("NTE01", COLLECT, "created", ""), ("NTE01", COLLECT, "ready_for_pickup", ""),
    ("NTE01", COLLECT, "collected", ""),
    ("ROM01", SHIP, "created", ""), ("ROM01", COLLECT, "accepted", ""), ("ROM01", COLLECT, "picked", ""),
    ("ROM01", SHIP, "shipped", ""), ("ROM01", COLLECT, "collected", ""), ("ROM01", SHIP, "packed", "split:accepted"),
    ("TRN01", COLLECT, "created", ""), ("TRN01", SHIP, "packed", ""), ("TRN01", SHIP, "shipped", ""),
    ("TRN01", COLLECT, "ready_for_pickup", ""),
    ("FLR01", COLLECT, "created", ""), ("FLR01", COLLECT, "accepted", ""), ("FLR01", COLLECT, "ready_for_pickup", ""),
    # The warehouse ships what the stores do not
    ("WH01", SHIP, "created", ""), ("WH01", SHIP, "created", "review"), ("WH01", SHIP, "accepted", ""),
    ("WH01", SHIP, "picking", ""), ("WH01", SHIP, "picked", ""), ("WH01", SHIP, "packed", ""),
    ("WH01", SHIP, "packed", ""), ("WH01", SHIP, "shipped", ""), ("WH01", SHIP, "shipped", ""),
    ("WH01", SHIP, "shipped", ""), ("WH01", SHIP, "shipped", ""), ("WH01", SHIP, "shipped", ""),
    ("WH01", SHIP, "created", "cancel"),
    # Click & collect in every state after staging, and ship-to-store transfers
    ("PAR01", COLLECT, "ready_for_pickup", "arrived"), ("PAR01", COLLECT, "collected", "partial"),
    ("PAR01", COLLECT, "expired", ""), ("PAR01", COLLECT, "expired", "putback"),
    ("PAR01", COLLECT, "packed", "transfer:LYO01"), ("PAR01", COLLECT, "ready_for_pickup", "transfer:LYO01"),
    ("MIL01", COLLECT, "ready_for_pickup", "arrived"), ("MIL01", COLLECT, "collected", "partial"),
    ("MIL01", COLLECT, "expired", ""), ("MIL01", COLLECT, "packed", "transfer:ROM01"),
]
# fmt: on

PATHS = {
    SHIP: ["accepted", "picking", "picked", "packed", "shipped"],
    COLLECT: ["accepted", "picking", "picked", "ready_for_pickup", "collected"],
}

# How long ago the order came in (minutes), by how far its fulfilment has gone.
AGE_MINUTES = {
    "created": (4, 75),
    "accepted": (45, 180),
    "picking": (90, 240),
    "picked": (120, 360),
    "packed": (180, 480),
    "ready_for_pickup": (240, 1440),
    "shipped": (900, 2880),
    "collected": (1440, 4320),
    "expired": (12000, 14000),  # more than a week ago: the seven-day hold ran out
    "rejected": (120, 300),
}


def path_to(method: str, final: str) -> list[str]:
    """The states a fulfilment of this delivery method goes through to reach final (not created)."""
    if final == "created":
        return []
    if final == "expired":
        return [*path_to(method, "ready_for_pickup"), "expired"]
    if method == COLLECT and final == "packed":  # a transfer: the sending store packs it like a parcel
        return ["accepted", "picking", "picked", "packed"]
    steps = PATHS[method]
    return steps[: steps.index(final) + 1]
