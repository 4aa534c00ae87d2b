"""Shared devices: someone signs a store's tablet in with their full password, which opens the device's shift;
during the shift, the store's associates switch to themselves on it by scanning their badge or typing their PIN.

Whoever switched in is the device's person from then on (everything they do is theirs, in the audit too) until
the next switch or the end of the shift, when the device needs a full password again. PINs are kept as salted
hashes (werkzeug, like passwords); badges as the SHA-256 of their code, so a scan finds its person. Only
associates are switched to: a manager's screens need a manager's password.
"""

import hashlib
import re
from datetime import datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput, NotFound
from app.core.models import Location, Role, User, membership
from app.core.models.base import utcnow
from app.core.models.users import UserSession, hash_secret
from app.extensions import db

PIN = re.compile(r"\d{4,6}")
BADGE = re.compile(r"[\x21-\x7e]{4,64}")  # what a keyboard-wedge scanner types: printable ASCII, no spaces


class ShiftOver(DomainError):
    code = "shift_over"
    http_status = 401
    message = N_("This device's shift is over: sign in with your password to start a new one.")


class WrongPin(DomainError):
    code = "wrong_pin"
    http_status = 422
    message = N_("Wrong PIN.")


def badge_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _trivial(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    return steps in ({0}, {1}, {-1})


def set_pin(person: User, pin: str, *, actor: Actor) -> None:
    """A person's own PIN: 4 to 6 digits, not all the same nor a run (1234)."""
    pin = (pin or "").strip()
    if not PIN.fullmatch(pin):
        raise InvalidInput(N_("A PIN has 4 to 6 digits."), field="pin")
    if _trivial(pin):
        raise InvalidInput(N_("This PIN is too easy to guess: avoid repeated digits and runs like 1234."), field="pin")
    had = person.pin_hash is not None
    person.pin_hash = hash_secret(pin)
    audit.record(actor, "user.pin", person, {"pin": had}, {"pin": True})


def clear_pin(person: User, *, actor: Actor) -> bool:
    if person.pin_hash is None:
        return False
    person.pin_hash = None
    audit.record(actor, "user.pin", person, {"pin": True}, {"pin": False})
    return True


def set_badge(person: User, code: str, *, actor: Actor) -> None:
    """Give a person the badge that scans as this code (a badge is one person's)."""
    code = (code or "").strip()
    if not BADGE.fullmatch(code):
        raise InvalidInput(N_("A badge code has 4 to 64 letters, digits or signs, without spaces."), field="badge")
    digest = badge_hash(code)
    holder = db.session.scalar(select(User).where(User.badge_hash == digest))
    if holder is not None and holder.id != person.id:
        raise InvalidInput(N_("This badge is already someone else's."), field="badge")
    had = person.badge_hash is not None
    person.badge_hash = digest
    audit.record(actor, "user.badge", person, {"badge": had}, {"badge": True})


def clear_badge(person: User, *, actor: Actor) -> bool:
    if person.badge_hash is None:
        return False
    person.badge_hash = None
    audit.record(actor, "user.badge", person, {"badge": True}, {"badge": False})
    return True


def shift_open(row: UserSession, shift: timedelta, now: datetime | None = None) -> bool:
    """Whether the device's shift (from its full-password sign-in) still runs."""
    return (now or utcnow()) - row.created_at < shift


def candidates(store: Location) -> list[User]:
    """Who may switch to a device of this store: its active associates, by name."""
    members = select(membership.c.user_id).where(membership.c.location_id == store.id)
    return db.session.scalars(
        select(User)
        .where(User.id.in_(members), User.role == Role.ASSOCIATE, User.active.is_(True))
        .order_by(User.name, User.id)
    ).all()


def _candidate(store: Location, person: User | None) -> User:
    if person is None or not person.active or person.role != Role.ASSOCIATE:
        raise NotFound(N_("Nobody of this store has this badge or PIN."))
    if store.id not in {s.id for s in person.stores}:
        raise NotFound(N_("Nobody of this store has this badge or PIN."))
    return person


def _check_shift(row: UserSession, store: Location, shift: timedelta, now: datetime | None) -> None:
    if row.revoked_at is not None or not shift_open(row, shift, now):
        raise ShiftOver()
    if store.id not in {s.id for s in row.user.stores}:  # the device belongs to the store its shift was opened for
        raise NotFound(N_("Nobody of this store has this badge or PIN."))


def switch_by_pin(
    row: UserSession, store: Location, person_id: int, pin: str, *, shift: timedelta, actor: Actor, now=None
) -> User:
    """Switch the device to the store's associate with this PIN (throttle attempts before calling this)."""
    _check_shift(row, store, shift, now)
    person = _candidate(store, db.session.get(User, person_id))
    if person.pin_hash is None or not check_password_hash(person.pin_hash, (pin or "").strip()):
        raise WrongPin(field="pin")
    return _switch(row, person, "pin", actor)


def switch_by_badge(row: UserSession, store: Location, code: str, *, shift: timedelta, actor: Actor, now=None) -> User:
    """Switch the device to the store's associate whose badge scans as this code."""
    _check_shift(row, store, shift, now)
    person = db.session.scalar(select(User).where(User.badge_hash == badge_hash(code or "")))
    return _switch(row, _candidate(store, person), "badge", actor)


def _switch(row: UserSession, person: User, how: str, actor: Actor) -> User:
    before = row.person
    row.acting_user_id = None if person.id == row.user_id else person.id
    row.acting_user = None if person.id == row.user_id else person
    # The switch is the act of the person switching in: they proved who they are.
    as_person = Actor.for_user(person, ip=actor.ip, device=actor.device)
    audit.record(as_person, "session.switch", row, {"user_id": before.id}, {"user_id": person.id, "by": how})
    return person
