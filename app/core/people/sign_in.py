"""Signed-in devices (one revocable session each) and wrong passwords counted alike by every worker."""

import hashlib
import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import joinedload

from app.core import audit
from app.core.actor import Actor
from app.core.models import Location, Role, User, membership
from app.core.models.base import utcnow
from app.core.models.users import LoginFailure, UserSession
from app.extensions import db

# A device's last_seen_at is written at most this often, not on every request.
SEEN_EVERY = timedelta(minutes=1)
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPad", "iPad"),
    ("iPhone", "iPhone"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def device_summary(user_agent: str) -> str:
    """ "Chrome · Android" from a User-Agent header, enough for a manager to tell a store's devices apart."""
    agent = user_agent or ""
    browser = next((name for token, name in BROWSERS if token in agent), "")
    system = next((name for token, name in SYSTEMS if token in agent), "")
    return " · ".join(part for part in (browser, system) if part) or agent[:80]


def open_session(user: User, *, ip: str, user_agent: str, now: datetime | None = None) -> tuple[UserSession, str]:
    """Open a session for a device that just signed in; returns it and the random key its cookie carries."""
    now = now or utcnow()
    key = secrets.token_urlsafe(32)
    row = UserSession(
        key_hash=_hash(key), user=user, created_at=now, last_seen_at=now, device=device_summary(user_agent), ip=ip[:45]
    )
    db.session.add(row)
    db.session.flush()
    return row, key


def live_session(key: str, user_id: int, lifetime: timedelta, now: datetime | None = None) -> UserSession | None:
    """The session this key opened for this user (or the person switched to on it), with its people, unless revoked
    or unused for a whole lifetime."""
    now = now or utcnow()
    return db.session.scalar(
        select(UserSession)
        .options(joinedload(UserSession.user), joinedload(UserSession.acting_user))
        .where(
            UserSession.key_hash == _hash(key),
            func.coalesce(UserSession.acting_user_id, UserSession.user_id) == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.last_seen_at > now - lifetime,
        )
    )


def seen(row: UserSession, *, own_transaction: bool, now: datetime | None = None) -> None:
    """Note that the device was seen now, at most once a minute; in a short transaction of its own if asked
    (a read-only request commits nothing), else with the request's own changes."""
    now = now or utcnow()
    if now - row.last_seen_at < SEEN_EVERY:
        return
    if not own_transaction:
        row.last_seen_at = now
        return
    with db.engine.connect().execution_options(sqlite_immediate=True) as connection, connection.begin():
        connection.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))


def prune_sessions(lifetime: timedelta, now: datetime | None = None) -> None:
    """Forget the sessions nobody could use any more: unused for a whole lifetime (revoked ones included)."""
    db.session.execute(delete(UserSession).where(UserSession.last_seen_at <= (now or utcnow()) - lifetime))


def revoke_session(row: UserSession, *, actor: Actor, now: datetime | None = None) -> bool:
    """Sign a device out: its cookie is refused from its next request on. False when it already was."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    audit.record(actor, "session.revoke", row, None, {"user_id": row.user_id, "device": row.device, "ip": row.ip})
    return True


def revoke_sessions_of(user: User, *, actor: Actor, now: datetime | None = None) -> int:
    """Sign every device of a person out; returns how many were still signed in."""
    rows = db.session.scalars(
        select(UserSession).where(
            or_(UserSession.user_id == user.id, UserSession.acting_user_id == user.id),
            UserSession.revoked_at.is_(None),
        )
    ).all()
    return sum(revoke_session(row, actor=actor, now=now) for row in rows)


def _staff_of(store: Location):
    """The store's members whose devices its manager may sign out (admins belong to no store's staff)."""
    members = select(membership.c.user_id).where(membership.c.location_id == store.id)
    return (User.id.in_(members), User.role != Role.ADMIN)


def store_sessions(store: Location, lifetime: timedelta, now: datetime | None = None) -> list[UserSession]:
    """The devices signed in now for the store's staff, by person then most recently seen."""
    return db.session.scalars(
        select(UserSession)
        .join(UserSession.user)
        .options(joinedload(UserSession.user))
        .where(
            *_staff_of(store),
            UserSession.revoked_at.is_(None),
            UserSession.last_seen_at > (now or utcnow()) - lifetime,
        )
        .order_by(User.name, User.id, UserSession.last_seen_at.desc())
    ).all()


def store_session(store: Location, session_id: int) -> UserSession | None:
    """One device session of the store's staff, or None."""
    return db.session.scalar(
        select(UserSession).join(UserSession.user).where(UserSession.id == session_id, *_staff_of(store))
    )


def store_person(store: Location, user_id: int) -> User | None:
    """One person of the store's staff, or None."""
    return db.session.scalar(select(User).where(User.id == user_id, *_staff_of(store)))


# --------------------------------------------------------------------------- wrong passwords


def record_attempt(address: str, account: str, *, keep: timedelta, now: datetime | None = None) -> LoginFailure:
    """Count a sign-in attempt before its password is checked (it stays counted if the password is wrong);
    attempts older than `keep` are forgotten. Commit it before asking seconds_to_wait, so every worker sees it."""
    now = now or utcnow()
    db.session.execute(delete(LoginFailure).where(LoginFailure.at < now - keep))
    attempt = LoginFailure(at=now, address=address[:45], account=account[:254])
    db.session.add(attempt)
    db.session.flush()
    return attempt


def seconds_to_wait(
    attempt: LoginFailure, per_account: tuple[int, timedelta], per_address: tuple[int, timedelta]
) -> int:
    """How long this attempt must wait, counting the other attempts from its address (for its account, and in all)
    that failed or are under way; 0 when it may go on. A refused attempt is forgotten.

    Each attempt is committed before it counts the others, so of two concurrent ones the later to count sees the
    earlier: no more than the limit get through, whatever the number of workers."""
    address = LoginFailure.address == attempt.address
    wait = max(
        _wait(attempt, per_account, address, LoginFailure.account == attempt.account),
        _wait(attempt, per_address, address),
    )
    if wait:
        db.session.delete(attempt)
    return wait


def _wait(attempt: LoginFailure, limit: tuple[int, timedelta], *where) -> int:
    amount, window = limit
    recent = db.session.scalars(
        select(LoginFailure.at)
        .where(*where, LoginFailure.id != attempt.id, LoginFailure.at > attempt.at - window)
        .order_by(LoginFailure.at.desc())
        .limit(amount)
    ).all()
    if len(recent) < amount:
        return 0
    return max(1, math.ceil((recent[-1] + window - attempt.at).total_seconds()))


def forget_failures(address: str, account: str) -> None:
    """After a right password: this account's earlier mistakes at this address no longer count."""
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.address == address[:45], LoginFailure.account == account[:254])
    )
