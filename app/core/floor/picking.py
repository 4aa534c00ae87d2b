"""Picking: one or a batch of fulfilments on a pick list, walked in the store's pick sequence.

Each counted unit is a Scan row (who, when, which line, which code); undo, takeover, start and finish are
also in the audit trail.

Every scan is stored under the id the device gave it, so a resend after a network drop is
answered with the first outcome and never counts twice. Units are counted on the fulfilment
lines (picked); stock stays reserved until the parcel leaves (orders.transition to shipped).
"""

import functools
import string
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, DomainError, IllegalTransition, InvalidInput
from app.core.floor import commands, scans
from app.core.floor.scans import Outcome, ScanWork
from app.core.inventory.catalogue import find_product
from app.core.inventory.products import named
from app.core.inventory.shelves import path_key as shelves_path_key
from app.core.models import (
    Fulfilment,
    FulfilmentLine,
    Location,
    PickList,
    PickListStatus,
    Scan,
    ScanMode,
    ShelfLocation,
    User,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import orders, sourcing
from app.extensions import db

TOTES = string.ascii_uppercase  # A..Z, then AA.. for the 27th and on
MAX_BATCH = 50

# Why units could not be picked, and what that says about the stock on the shelf.
SHORT_REASONS = ("out_of_stock", "damaged", "cannot_find", "other")


class PickRefused(DomainError):
    code = "pick_refused"
    http_status = 409


def tote_name(index: int) -> str:
    """A, B, ... Z, AA, AB, ...: the tote each order of a batch goes into."""
    return TOTES[index] if index < len(TOTES) else TOTES[index // len(TOTES) - 1] + TOTES[index % len(TOTES)]


@dataclass
class Split:
    """The units of one product that go into one tote."""

    line: FulfilmentLine
    tote: str
    reference: str

    @property
    def left(self) -> int:
        return self.line.quantity - self.line.picked - self.line.short


@dataclass
class Group:
    """One product on the pick list: where it is and how its units split across the totes."""

    product: object
    shelf: ShelfLocation | None
    splits: list[Split] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.line.quantity for s in self.splits)

    @property
    def picked(self) -> int:
        return sum(s.line.picked for s in self.splits)

    @property
    def short(self) -> int:
        return sum(s.line.short for s in self.splits)

    @property
    def left(self) -> int:
        return sum(s.left for s in self.splits)

    @property
    def shelf_text(self) -> str:
        return self.shelf.code if self.shelf else ""


def active_fulfilments(pick_list: PickList) -> list[Fulfilment]:
    return [f for f in pick_list.fulfilments if f.status == S.PICKING]


def shown_fulfilments(pick_list: PickList) -> list[Fulfilment]:
    """The orders a pick list shows: those being picked, or once it is done, what it picked (not the cancelled)."""
    if pick_list.status == PickListStatus.OPEN:
        return active_fulfilments(pick_list)
    return [f for f in pick_list.fulfilments if f.status not in {S.CANCELLED, S.REJECTED}]


def groups(pick_list: PickList, shelves: dict[int, ShelfLocation] | None = None) -> list[Group]:
    """The pick list's products in the store's pick path (shelves.path_key, then SKU), each split by tote; a
    finished list keeps showing what it picked.

    shelves: the store's shelf places of the list's products by product id, when the caller loaded them already.
    """
    fulfilments = shown_fulfilments(pick_list)
    if shelves is None:
        product_ids = {line.product_id for f in fulfilments for line in f.lines}
        shelves = {
            row.product_id: row
            for row in db.session.scalars(
                select(ShelfLocation).where(
                    ShelfLocation.location_id == pick_list.location_id, ShelfLocation.product_id.in_(product_ids)
                )
            )
        }
    by_product: dict[int, Group] = {}
    for f in fulfilments:
        for line in f.lines:
            group = by_product.setdefault(line.product_id, Group(line.product, shelves.get(line.product_id)))
            group.splits.append(Split(line, f.tote, f.order.reference))

    walk = db.session.get(Location, pick_list.location_id).walk  # the store is in the session already, as a rule
    return sorted(by_product.values(), key=lambda g: (shelves_path_key(g.shelf, walk), g.product.sku))


def current_group(pick_list: PickList, all_groups: list[Group] | None = None) -> Group | None:
    """The next product to pick: the first unfinished one in sequence that was not skipped with NEXT."""
    all_groups = groups(pick_list) if all_groups is None else all_groups
    open_groups = [g for g in all_groups if g.left]
    if not open_groups:
        return None
    if len(open_groups) == 1:  # nothing to choose between: whether it was put off with NEXT changes nothing
        return open_groups[0]
    skipped = _skipped_products(pick_list)
    waiting = [g for g in open_groups if g.product.id not in skipped]
    return (waiting or open_groups)[0]


def _skipped_products(pick_list: PickList) -> set[int]:
    """Products put off with NEXT and not counted since (they come back once everything else is done)."""
    skips = db.session.execute(
        select(Scan.id, Scan.details).where(
            Scan.pick_list_id == pick_list.id, Scan.outcome == "skipped", Scan.undone_at.is_(None)
        )
    ).all()
    if not skips:  # the usual case: one small query
        return set()
    last_skip = {}
    for scan_id, details in skips:
        product_id = (details or {}).get("product_id")
        if product_id:
            last_skip[product_id] = max(scan_id, last_skip.get(product_id, 0))
    counted = db.session.execute(
        select(FulfilmentLine.product_id, func.max(Scan.id))
        .join(FulfilmentLine, FulfilmentLine.id == Scan.fulfilment_line_id)
        .where(Scan.pick_list_id == pick_list.id, Scan.quantity > 0, Scan.undone_at.is_(None))
        .group_by(FulfilmentLine.product_id)
    ).all()
    last_count = dict(counted)
    return {product_id for product_id, skip in last_skip.items() if last_count.get(product_id, 0) < skip}


def _work(pick_list: PickList) -> ScanWork:
    return ScanWork("pick", pick_list.location_id, pick_list_id=pick_list.id)


def _replay(client_id: str, pick_list: PickList) -> Outcome | None:
    return scans.replay(client_id, _work(pick_list))


def _record(pick_list, user, client_id, code, result: Outcome, quantity=0, product_id=None) -> Outcome:
    """Store the scan under its client id (a concurrent resend of the same id loses and is refused)."""
    result.product_id = product_id
    return scans.record(client_id, _work(pick_list), result, user=user, code=code, quantity=quantity)


def _require_picker(pick_list: PickList, user: User) -> None:
    if pick_list.status != PickListStatus.OPEN:
        raise PickRefused(N_("This pick list is finished."))
    if pick_list.user_id != user.id:
        raise PickRefused(
            N_("%(name)s is picking this list. Take it over to go on."),
            name=pick_list.user.name if pick_list.user else "",
        )


def start_pick(location: Location, fulfilments: list[Fulfilment], *, user: User, actor: Actor) -> PickList:
    """Put accepted fulfilments on a new pick list for this user, each into its own tote, and start picking them.

    Starting the same fulfilments again (a resend) returns the user's open pick list that already has them.
    """
    if not fulfilments:
        raise InvalidInput(N_("Choose at least one order to pick."), field="fulfilments")
    limit = min(location.pick_batch_size, MAX_BATCH)
    if len(fulfilments) > limit:
        raise InvalidInput(
            N_("Orders on one pick list at this store: at most %(limit)s."),
            field="fulfilments",
            limit=limit,
        )
    ids = {f.id for f in fulfilments}
    if all(f.pick_list is not None and f.pick_list.status == PickListStatus.OPEN for f in fulfilments):
        lists = {f.pick_list_id for f in fulfilments}
        existing = fulfilments[0].pick_list
        if len(lists) == 1 and existing.user_id == user.id and ids <= {f.id for f in existing.fulfilments}:
            return existing
    for f in fulfilments:
        if f.location_id != location.id:
            raise InvalidInput(N_("This order is not for this store."), field="fulfilments")
        orders.ensure_not_held(f)
        if f.status == S.PICKING and f.pick_list is not None and f.pick_list.status == PickListStatus.OPEN:
            raise PickRefused(
                N_("Order %(ref)s is already being picked by %(name)s."),
                ref=f.order.reference,
                name=f.picker.name if f.picker else "",
            )
        if f.status not in {S.ACCEPTED, S.PICKING}:
            raise IllegalTransition(current=f.status, target=S.PICKING)
    pick_list = PickList(location_id=location.id, user_id=user.id, status="open")
    db.session.add(pick_list)
    db.session.flush()
    ordered = sorted(fulfilments, key=lambda f: (f.ready_by or utcnow(), f.id))
    for index, f in enumerate(ordered):
        f.pick_list, f.tote, f.picker_id = pick_list, tote_name(index), user.id
        if f.status == S.ACCEPTED:
            orders.transition(f, S.PICKING, actor=actor)
    audit.record(actor, "pick.start", pick_list, None, {"fulfilments": [f.id for f in ordered]})
    db.session.flush()
    return pick_list


def take_over(pick_list: PickList, *, user: User, actor: Actor) -> PickList:
    """Another associate goes on with someone's pick list (they were warned; the audit keeps both names)."""
    if pick_list.status != PickListStatus.OPEN:
        raise PickRefused(N_("This pick list is finished."))
    if pick_list.user_id == user.id:
        return pick_list
    before = pick_list.user.email if pick_list.user else None
    pick_list.user_id = user.id
    for f in active_fulfilments(pick_list):
        f.picker_id = user.id
    audit.record(actor, "pick.takeover", pick_list, {"user": before}, {"user": user.email})
    db.session.flush()
    return pick_list


def _lines_for(pick_list: PickList, product_id: int) -> list[FulfilmentLine]:
    return [
        line
        for f in sorted(active_fulfilments(pick_list), key=lambda f: f.tote)
        for line in f.lines
        if line.product_id == product_id
    ]


def _put_back(pick_list: PickList, product) -> Outcome | None:
    """The product belongs to an order cancelled (or taken away) mid-pick: say so, and where it goes back."""
    for f in pick_list.fulfilments:
        if f.status in {S.CANCELLED, S.REJECTED} and any(line.product_id == product.id for line in f.lines):
            shelf = db.session.scalar(
                select(ShelfLocation).where(
                    ShelfLocation.location_id == pick_list.location_id, ShelfLocation.product_id == product.id
                )
            )
            return Outcome(
                False,
                "cancelled",
                N_("Order %(ref)s was cancelled: stop picking it and put %(name)s back at %(shelf)s."),
                {
                    "ref": f.order.reference,
                    **named(product),
                    "shelf": shelf.code if shelf else "—",
                },
            )
    return None


def _product_on_list(pick_list: PickList, code: str):
    """The product of a line being picked whose SKU or GTIN is this code (the usual scan), found without a query.

    Other codes (extra barcodes, products not on the list) are looked up with catalogue.find_product.
    """
    candidates = {code}
    if code.isdigit() and len(code) == 12:
        candidates.add("0" + code)
    if code.isdigit() and len(code) == 13 and code.startswith("0"):
        candidates.add(code[1:])
    for f in active_fulfilments(pick_list):
        for line in f.lines:
            if line.product.sku in candidates or line.product.gtin in candidates:
                return line.product
    return None


@functools.cache
def _count_statement(new_scan_only: bool):
    """UPDATE picked by one where a unit is still needed (built once; run with the line id and the scan id)."""
    table = FulfilmentLine.__table__
    guard = [table.c.id == bindparam("line_id"), table.c.picked + table.c.short < table.c.quantity]
    if new_scan_only:  # and only if no scan was stored under this id (a resend, answered by _replay)
        guard.append(~exists().where(Scan.__table__.c.client_id == bindparam("client_id")))
    return update(table).where(*guard).values(picked=table.c.picked + 1).returning(table.c.picked, table.c.short)


def _count_one(lines: list[FulfilmentLine], new_scan_id: str | None = None) -> FulfilmentLine | None:
    """Count one unit on the first of these lines that still needs one.

    The UPDATE itself checks that a unit is still needed (picked + short < quantity), so two devices on the same
    list never count more than ordered; a line another device completed meanwhile is re-read and passed over.
    With new_scan_id it also checks that no scan was stored under that id yet, and gives up (None) at the first
    line it could not count: the caller then takes the full path (replay, then every line).
    """
    for line in lines:
        if line.quantity - line.picked - line.short <= 0:
            continue
        params = {"line_id": line.id, "client_id": new_scan_id}
        counted = db.session.execute(_count_statement(new_scan_id is not None), params).first()
        if counted is not None:
            # The row as written: kept on the loaded line without a second UPDATE from the unit of work.
            set_committed_value(line, "picked", counted.picked)
            set_committed_value(line, "short", counted.short)
            return line
        db.session.refresh(line, ["picked", "short"])
        if new_scan_id is not None:
            return None
    return None


def _counted(pick_list: PickList, user: User, client_id: str, code: str, product, line: FulfilmentLine) -> Outcome:
    """The answer to a scan that counted one unit on this line, stored under its scan id."""
    mode = pick_list.location.scan_mode
    left = line.quantity - line.picked - line.short
    tote = line.fulfilment.tote
    if mode == ScanMode.FIRST and left:
        outcome, message = "verified", N_("%(name)s: right product. Put it in tote %(tote)s and confirm the quantity.")
    else:
        outcome, message = "counted", N_("%(name)s into tote %(tote)s: %(left)s more for this order.")
    result = Outcome(True, outcome, message, {**named(product), "tote": tote, "left": left}, line.id)
    return _record(pick_list, user, client_id, code, result, quantity=1, product_id=product.id)


def scan(pick_list: PickList, code: str, client_id: str, *, user: User, actor: Actor) -> Outcome:
    """Handle one scan on a pick list: a product (counts one unit, never more than needed) or a command barcode."""
    client_id = scans.check_client_id(client_id)
    # The usual scan: the picker scans a product of the open list that still has units to count. Its UPDATE also
    # checks that the scan id is new, which saves the replay query; anything else (a resend included) takes the
    # full path below, which answers exactly as before.
    stripped = (code or "").strip()
    mine = pick_list.status == PickListStatus.OPEN and pick_list.user_id == user.id
    if mine and stripped and commands.command(stripped) is None:
        product = _product_on_list(pick_list, stripped)
        if product is not None:
            line = _count_one(_lines_for(pick_list, product.id), new_scan_id=client_id)
            if line is not None:
                return _counted(pick_list, user, client_id, stripped, product, line)
    replay = _replay(client_id, pick_list)
    if replay is not None:
        return replay
    _require_picker(pick_list, user)
    code = (code or "").strip()
    if not code:
        raise InvalidInput(N_("Scan or type a code."), field="code")
    cmd = commands.command(code)
    if cmd is not None:
        return _command(pick_list, cmd, code, client_id, user=user, actor=actor)
    product = _product_on_list(pick_list, code) or find_product(code)
    if product is None:
        return _record(
            pick_list,
            user,
            client_id,
            code,
            Outcome(False, "unknown", N_("Unknown code %(code)s."), {"code": code[:64]}),
        )
    lines = _lines_for(pick_list, product.id)
    if not lines:
        result = _put_back(pick_list, product) or Outcome(
            False, "wrong_product", N_("Wrong product: %(name)s is not on this pick list."), named(product)
        )
        return _record(pick_list, user, client_id, code, result, product_id=product.id)
    line = _count_one(lines)
    if line is None:
        total = sum(line.quantity - line.short for line in lines)
        result = Outcome(
            False, "over", N_("%(name)s is already picked in full (%(total)s)."), {"total": total, **named(product)}
        )
        return _record(pick_list, user, client_id, code, result, product_id=product.id)
    return _counted(pick_list, user, client_id, code, product, line)


def confirm(pick_list: PickList, line: FulfilmentLine, quantity: int, client_id: str, *, user: User, actor: Actor):
    """Tap to confirm units of a line (no-scan stores, and the quantity after a first-unit scan)."""
    client_id = scans.check_client_id(client_id)
    replay = _replay(client_id, pick_list)
    if replay is not None:
        return replay
    _require_picker(pick_list, user)
    if line.fulfilment.pick_list_id != pick_list.id or line.fulfilment.status != S.PICKING:
        raise InvalidInput(N_("This line is not on this pick list."), field="line")
    left = line.quantity - line.picked - line.short
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= left:
        raise InvalidInput(N_("The quantity must be from 1 to %(left)s."), field="quantity", left=max(left, 0))
    line.picked += quantity
    result = Outcome(
        True,
        "confirmed",
        N_("%(quantity)s × %(name)s into tote %(tote)s."),
        {"quantity": quantity, **named(line.product), "tote": line.fulfilment.tote},
        line.id,
    )
    return _record(pick_list, user, client_id, f"confirm:{line.id}", result, quantity, line.product_id)


def _command(pick_list, cmd, code, client_id, *, user, actor) -> Outcome:
    if cmd == commands.UNDO:
        return undo_last(pick_list, client_id, user=user, actor=actor)
    if cmd == commands.CONFIRM:
        latest = db.session.scalar(
            select(Scan).where(Scan.pick_list_id == pick_list.id).order_by(Scan.id.desc()).limit(1)
        )
        if latest is not None and latest.outcome == "short_prompt" and latest.fulfilment_line is not None:
            return _short_by_scanner(pick_list, latest.fulfilment_line, code, client_id, user=user, actor=actor)
        last = _last_counted(pick_list)
        if last is not None and last.outcome == "verified":
            line = last.fulfilment_line
            left = line.quantity - line.picked - line.short
            if left and line.fulfilment.status == S.PICKING:
                return confirm(pick_list, line, left, client_id, user=user, actor=actor)
        if current_group(pick_list) is None:
            finish(pick_list, user=user, actor=actor)
            return _record(pick_list, user, client_id, code, Outcome(True, "finished", N_("Picking finished.")))
        return _record(
            pick_list, user, client_id, code, Outcome(False, "not_done", N_("There are still items to pick."))
        )
    group = current_group(pick_list)
    if cmd == commands.NEXT:
        if group is None:
            return _record(pick_list, user, client_id, code, Outcome(True, "skipped", N_("Nothing left to pick.")))
        result = Outcome(True, "skipped", N_("%(name)s put off until the end."), named(group.product))
        return _record(pick_list, user, client_id, code, result, product_id=group.product.id)
    if cmd == commands.SHORT:
        result = Outcome(
            True, "short_prompt", N_("Say why the item is short, or scan CONFIRM: it is then short as not found."), {}
        )
        if group is not None:
            split = next(s for s in group.splits if s.left)
            result.line_id = split.line.id
        return _record(pick_list, user, client_id, code, result)
    return _record(
        pick_list, user, client_id, code, Outcome(False, "command", N_("This command is not used while picking."))
    )


def _short_by_scanner(pick_list, line, code, client_id, *, user, actor) -> Outcome:
    """SHORT then CONFIRM from a handheld: what is left of the line is short as "cannot find" and re-routes."""
    left = line.quantity - line.picked - line.short
    if not left or line.fulfilment.status != S.PICKING:
        return _record(
            pick_list, user, client_id, code, Outcome(False, "not_done", N_("Nothing is left to mark short."))
        )
    name = named(line.product)
    short(pick_list, line, left, "cannot_find", "", user=user, actor=actor)
    result = Outcome(
        True,
        "shorted",
        N_("%(quantity)s × %(name)s marked short: the order goes on and the missing units go to another store."),
        {"quantity": left, **name},
        line.id,
    )
    return _record(pick_list, user, client_id, code, result, product_id=line.product_id)


def _last_counted(pick_list: PickList) -> Scan | None:
    return db.session.scalar(
        select(Scan)
        .where(Scan.pick_list_id == pick_list.id, Scan.quantity > 0, Scan.undone_at.is_(None))
        .order_by(Scan.id.desc())
        .limit(1)
    )


def last_scan(pick_list: PickList, answer: Outcome | None = None) -> Scan | None:
    """The latest scan that counted units and can still be undone (the answer's own row when it just counted)."""
    if answer is not None and answer.scan is not None and not answer.replayed:
        return answer.scan
    return _last_counted(pick_list)


def undo_last(pick_list: PickList, client_id: str, *, user: User, actor: Actor, expected: int | None = None):
    """Take back the latest counted scan (audited). `expected` is the scan the screen showed: a resend undoes nothing."""
    client_id = scans.check_client_id(client_id)
    replay = _replay(client_id, pick_list)
    if replay is not None:
        return replay
    _require_picker(pick_list, user)
    last = _last_counted(pick_list)
    if last is None or (expected is not None and last.id != expected):
        return _record(pick_list, user, client_id, "undo", Outcome(False, "nothing_to_undo", N_("Nothing to undo.")))
    line = last.fulfilment_line
    if line.fulfilment.status != S.PICKING:
        return _record(pick_list, user, client_id, "undo", Outcome(False, "nothing_to_undo", N_("Nothing to undo.")))
    line.picked -= last.quantity
    last.undone_at = utcnow()
    audit.record(
        actor,
        "pick.undo",
        line.fulfilment,
        {"picked": line.picked + last.quantity},
        {"picked": line.picked, "sku": line.product.sku, "scan_id": last.client_id},
    )
    result = Outcome(
        True,
        "undone",
        N_("Undone: %(quantity)s × %(name)s out of tote %(tote)s."),
        {"quantity": last.quantity, **named(line.product), "tote": line.fulfilment.tote},
        line.id,
    )
    return _record(pick_list, user, client_id, "undo", result, product_id=line.product_id)


STOCK_EFFECTS = {"out_of_stock", "damaged"}


def short(
    pick_list: PickList, line: FulfilmentLine, quantity: int, reason: str, note: str, *, user: User, actor: Actor
):
    """Units of a line cannot be picked: they re-route elsewhere (sourcing.short_pick) and the rest goes on.

    out_of_stock tells the stock that nothing more is on the shelf; damaged moves the units to the damaged count.
    """
    _require_picker(pick_list, user)
    if line.fulfilment.pick_list_id != pick_list.id or line.fulfilment.status != S.PICKING:
        raise InvalidInput(N_("This line is not on this pick list."), field="line")
    if reason not in SHORT_REASONS:
        raise InvalidInput(N_("Choose a reason."), field="reason")
    if reason == "other" and not note.strip():
        raise InvalidInput(N_("Say what happened."), field="note")
    text = f"{reason}: {note.strip()}" if note.strip() else reason
    fulfilment = line.fulfilment
    sourcing.short_pick(line, quantity, reason=text, actor=actor)
    sourcing.apply_stock_effect(fulfilment, {line: quantity}, reason, text, actor, context="short pick")
    _close_if_done(pick_list, actor)
    return fulfilment


def finish(pick_list: PickList, *, user: User, actor: Actor) -> PickList:
    """Every unit is picked or short: the orders move on to packing (or to ready for pickup steps)."""
    if pick_list.status != PickListStatus.OPEN:
        return pick_list
    _require_picker(pick_list, user)
    left = sum(g.left for g in groups(pick_list))
    if left:
        raise PickRefused(N_("Units still to pick or to mark short: %(left)s."), left=left)
    for f in active_fulfilments(pick_list):
        orders.transition(f, S.PICKED, actor=actor)
    _close_if_done(pick_list, actor)
    return pick_list


def _close_if_done(pick_list: PickList, actor: Actor) -> None:
    if pick_list.status == PickListStatus.OPEN and not active_fulfilments(pick_list):
        pick_list.status, pick_list.closed_at = "done", utcnow()
        audit.record(actor, "pick.finish", pick_list, None, {"status": "done"})
        db.session.flush()


def stop_cancelled(pick_list: PickList) -> list[dict]:
    """Orders on this list cancelled or taken away mid-pick, with what was already picked and where it goes back."""
    notices = []
    for f in pick_list.fulfilments:
        if f.status not in {S.CANCELLED, S.REJECTED}:
            continue
        shelves = {
            row.product_id: row
            for row in db.session.scalars(
                select(ShelfLocation).where(ShelfLocation.location_id == pick_list.location_id)
            )
            if any(line.product_id == row.product_id for line in f.lines)
        }
        items = [
            {
                **named(line.product),
                "quantity": line.picked,
                "shelf": shelves[line.product_id].code if line.product_id in shelves else "—",
            }
            for line in f.lines
            if line.picked
        ]
        notices.append({"reference": f.order.reference, "status": f.status, "tote": f.tote, "items": items})
    return notices


def open_pick_list_for(user: User, location: Location) -> PickList | None:
    """The user's pick list in progress at this store, if any (to resume after a refresh or a break)."""
    return db.session.scalar(
        select(PickList)
        .where(PickList.location_id == location.id, PickList.user_id == user.id, PickList.status == "open")
        .order_by(PickList.id.desc())
        .limit(1)
    )


PICKABLE = {S.CREATED, S.ACCEPTED, S.PICKING}


def _units_left(line: FulfilmentLine) -> int:
    return line.quantity - line.picked - line.short


def _picked_by_sku(fulfilment: Fulfilment, lines) -> tuple[dict, dict]:
    """{sku: units picked in all} from [{sku, quantity}], checked against the fulfilment; and {sku: its lines}."""
    by_sku: dict[str, list[FulfilmentLine]] = {}
    for line in fulfilment.lines:
        by_sku.setdefault(line.product.sku, []).append(line)
    if not isinstance(lines, list) or not lines:
        raise InvalidInput(N_("Give the picked quantity of each product."), field="lines")
    wanted, errors = {}, {}
    for i, row in enumerate(lines):
        row = row if isinstance(row, dict) else {}
        sku = str(row.get("sku") or "")
        quantity = row.get("quantity")
        group = by_sku.get(sku)
        if group is None:
            errors[f"lines.{i}.sku"] = N_("This product is not in this order.")
        elif sku in wanted:
            errors[f"lines.{i}.sku"] = N_("This product is given twice.")
        elif not isinstance(quantity, int) or isinstance(quantity, bool):
            errors[f"lines.{i}.quantity"] = N_("Must be a whole number, zero or more.")
        else:
            least = sum(line.picked for line in group)
            most = sum(line.quantity - line.short for line in group)
            if not least <= quantity <= most:
                errors[f"lines.{i}.quantity"] = (
                    N_("Must be a whole number from %(low)s to %(high)s."),
                    {"low": least, "high": most},
                )
            wanted[sku] = quantity
    for sku, group in by_sku.items():
        if sku not in wanted and any(_units_left(line) for line in group):
            errors.setdefault(
                "lines", (N_("Give the picked quantity of %(sku)s too (0 when none was found)."), {"sku": sku})
            )
    if errors:
        raise InvalidInput(N_("Some lines cannot be confirmed as picked."), fields=errors)
    return wanted, by_sku


def confirm_picked(
    fulfilment: Fulfilment, lines, *, actor: Actor, reason: str = "cannot_find", note: str = ""
) -> Fulfilment:
    """Confirm a fulfilment's picked units without scans (a POS or a WMS through the API).

    lines: [{sku, quantity}], the units of each product picked in all; every product with units still to pick is
    given (0 when none was found). The fulfilment goes from created, accepted or picking to picked; the units not
    picked are short with `reason` (one of SHORT_REASONS, as on the pick screen: their reservation is released,
    they re-route to another location, out_of_stock and damaged tell the stock), and when nothing at all was
    picked the fulfilment is rejected. A fulfilment on an associate's open pick list is left to them.
    """
    orders.lock_order(fulfilment.order)
    if fulfilment.status not in PICKABLE:
        raise IllegalTransition(current=fulfilment.status, target=S.PICKED)
    orders.ensure_not_held(fulfilment)
    pick_list = fulfilment.pick_list
    if fulfilment.status == S.PICKING and pick_list is not None and pick_list.status == PickListStatus.OPEN:
        raise PickRefused(
            N_("Order %(ref)s is being picked by %(name)s on a pick list: it is finished there."),
            ref=fulfilment.order.reference,
            name=pick_list.user.name if pick_list.user else "",
        )
    note = " ".join((note or "").split())[:200]
    if reason not in SHORT_REASONS:
        raise InvalidInput(N_("Choose a reason."), field="reason")
    wanted, by_sku = _picked_by_sku(fulfilment, lines)
    counts, shorts = {}, {}  # {line: units picked now}, {line: units short}
    for sku, quantity in wanted.items():
        more = quantity - sum(line.picked for line in by_sku[sku])
        for line in by_sku[sku]:
            counts[line] = min(more, _units_left(line))
            more -= counts[line]
            if _units_left(line) > counts[line]:
                shorts[line] = _units_left(line) - counts[line]
    if shorts and reason == "other" and not note:
        raise InvalidInput(N_("Say what happened."), field="note")
    if fulfilment.status == S.CREATED:
        orders.accept_fulfilment(fulfilment, actor=actor)
    if fulfilment.status == S.ACCEPTED:
        orders.transition(fulfilment, S.PICKING, actor=actor)
    for line, counted in counts.items():
        line.picked += counted
    audit.record(actor, "pick.confirmed", fulfilment, None, {"picked": wanted})
    db.session.flush()
    text = f"{reason}: {note}" if note else reason
    for line, quantity in shorts.items():
        sourcing.short_pick(line, quantity, reason=text, actor=actor)
    if shorts:
        sourcing.apply_stock_effect(fulfilment, shorts, reason, text, actor, context="short pick")
    if fulfilment.status == S.PICKING:
        orders.transition(fulfilment, S.PICKED, actor=actor)
    return fulfilment
